import Foundation
import Testing

@testable import FaultKit

@Suite("error-handler inventory")
struct ErrorHandlerInventoryTests {
  func found(_ source: String, _ language: SourceTokens.Language) -> [String] {
    ErrorHandlerInventory.sites(in: source, file: "F", language: language).map {
      "\($0.line):\($0.column) \($0.kind.rawValue)"
    }
  }

  @Test("Swift: every catch, throw, failure return and fail branch; nothing in comments or strings")
  func swiftSites() {
    let source = #"""
      func f() async throws -> Int {
        // throw in a comment; catch { too }
        /* throw /* nested */ catch { } */
        let s = "throw \(x.map { "catch {" }) catch"
        let r = #"throw "catch" "#
        guard ok else { throw FSError(.invalid) }
        do {
          try g()
        } catch let e as FSError {
          cleanup()
          throw e
        } catch {}
        if case .fail(let e) = try await harness.hit(p) { throw e }
        if case .fail = try await harness.hit(q) {
          first = e
        }
        switch action {
        case .fail, .restart: mustRestart = true
        case .fail(let e): throw e
        default: break
        }
        let multi = """
          throw catch
          """
        return .failure(Errno.io)
      }
      func h() throws -> Int { try? k(); return 0 }
      """#
    #expect(
      found(source, .swift) == [
        "6:19 throw", "9:28 catch", "11:5 throw", "12:11 catch", "13:53 throw", "14:44 fail-branch",
        "18:25 fail-branch", "19:22 throw", "25:3 failure-return",
      ])
  }

  @Test(
    "C: error branches by condition or by error exit, their else, gotos outside them; nothing in comments, strings or macros"
  )
  func cSites() {
    let source = #"""
      #define FAIL(x) if (x) return -1; \
        goto out
      static errcode_t f(ext2_filsys fs, errcode_t code) {
        errcode_t w = 0, s;
        int n = 0;
        /* if (rc) return rc; goto bad; */
        const char *m = "if (rc) return EIO;";
        char c = '"';
        if (code) return code;
        if ((w = ext2fs_flush(fs))) { log(); }
        if (n > 3) return EINVAL;
        if (!p || !q) {
          free(p);
          return NULL;
        }
        if (n > 3) n = 0;
        if (!(s = g()))
          n++;
        else
          n--;
        if (a && (rc = h()) != 0) n = 1;
        if (a && rc == EXT2_ET_DIR_NO_SPACE) expand();
        if (fd < 0) return errno;
        if (n == 1) return 0;
        goto out;
      out:
        return 0;
      }
      """#
    #expect(
      found(source, .c) == [
        "9:13 error-branch", "10:31 error-branch", "11:14 error-branch", "12:17 error-branch", "20:5 error-branch",
        "21:29 error-branch", "22:40 error-branch", "23:15 error-branch", "25:3 goto",
      ])
  }

  @Test("ids and order are stable: sorted by file and position, id file:line:column")
  func ids() {
    let a = ErrorHandlerSite(file: "B.swift", line: 2, column: 1, kind: .throwStatement)
    let b = ErrorHandlerSite(file: "A.swift", line: 9, column: 4, kind: .catchClause)
    #expect([a, b].sorted() == [b, a])
    #expect(b.id == "A.swift:9:4")
    #expect(b.words == "A.swift:9 catch")
  }

  @Test("a site's count is the count of the last segment at or before it; none where nothing is instrumented")
  func segmentCounts() throws {
    let json = #"""
      {"data":[{"files":[{"filename":"/p/F.swift","segments":[[3,20,0,true,true,false],[3,33,4,true,true,false],
      [5,15,1,true,true,false],[7,22,2,true,true,false],[11,2,0,false,false,false]]}]}],"type":"llvm.coverage.json.export"}
      """#
    let s = try CoverageSegments(export: Data(json.utf8))
    #expect(s.count(file: "/p/F.swift", line: 3, column: 22) == 0)
    #expect(s.count(file: "/p/F.swift", line: 3, column: 33) == 4)
    #expect(s.count(file: "/p/F.swift", line: 6, column: 1) == 1)
    #expect(s.count(file: "/p/F.swift", line: 9, column: 5) == 2)
    #expect(s.count(file: "/p/F.swift", line: 12, column: 1) == nil)
    #expect(s.count(file: "/p/F.swift", line: 1, column: 1) == nil)
    #expect(s.count(file: "/p/G.swift", line: 3, column: 22) == nil)
    #expect(throws: ResultsError.self) { try CoverageSegments(export: Data("[]".utf8)) }
  }

  @Test("merging shards unites what each reached; different inventories are not measured")
  func merge() throws {
    let sites = [
      ErrorHandlerSite(file: "A", line: 1, column: 1, kind: .throwStatement),
      ErrorHandlerSite(file: "A", line: 2, column: 1, kind: .catchClause),
      ErrorHandlerSite(file: "B", line: 1, column: 1, kind: .errorBranch),
    ]
    let one = EngineErrorCoverage(engine: "e", inventory: sites, reachedIDs: ["A:1:1"])
    let two = EngineErrorCoverage(engine: "e", inventory: sites, reachedIDs: ["B:1:1"])
    let m = try #require(EngineErrorCoverage.merge([one, two]))
    #expect(m.measured && m.total == 3 && m.reached == 2)
    #expect(m.unreached.map(\.id) == ["A:2:1"])
    #expect(m.reachedIDs == ["A:1:1", "B:1:1"])
    let other = EngineErrorCoverage(engine: "e", inventory: Array(sites.prefix(2)), reachedIDs: [])
    #expect(EngineErrorCoverage.merge([one, other])?.measured == false)
    let not = EngineErrorCoverage(engine: "e", notMeasured: "x")
    #expect(EngineErrorCoverage.merge([one, not])?.measured == false)
    #expect(one.words == "error paths reached: 1 of 3 (33%)")
    #expect(not.words == "error paths not measured: x")
  }

  @Test(
    "merged results: each engine's reached sets united; an engine a run did not measure is not measured; none measured, none said"
  )
  func mergedResults() throws {
    let sites = [
      ErrorHandlerSite(file: "A", line: 1, column: 1, kind: .throwStatement),
      ErrorHandlerSite(file: "A", line: 2, column: 1, kind: .catchClause),
    ]
    func run(_ shard: Int, reached: Set<String>?) -> RunResults {
      let plan = PlanResults(
        plan: "p", file: "p.yaml", engine: "e", bugs: [], depth: 1, space: 0, pruned: 0, prunedChildren: 0,
        reached: [], scenarios: [], failures: [])
      var r = RunResults(
        command: "sweep", bugs: [], shard: Shard(index: shard, count: 2), plans: [plan], catalogs: [:])
      r.errorCoverage = reached.map { [EngineErrorCoverage(engine: "e", inventory: sites, reachedIDs: $0)] }
      return r
    }
    let both = try RunResults.merge([run(0, reached: ["A:1:1"]), run(1, reached: ["A:2:1"])])
    #expect(both.errorCoverage?.map(\.reached) == [2])
    #expect(both.errorCoverage?.first?.unreached == [])
    let one = try RunResults.merge([run(0, reached: ["A:1:1"]), run(1, reached: nil)])
    #expect(one.errorCoverage?.first?.measured == false)
    let none = try RunResults.merge([run(0, reached: nil), run(1, reached: nil)])
    #expect(none.errorCoverage == nil)
  }
}
