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

  @Test("markers: over a site or on its line, the reason running over the comment block, engines named or all")
  func markers() {
    let source = """
      func f() throws {
        // unreachable error path in ext4-model, xfs-model: only btrfs-model
        // has `corrupt`.
        guard ok else { throw FSError(.io) }
        // A plain comment first.
        // not an error path: the loader rejects it
        throw FSError(.invalid)
        guard a else { throw FSError(.noSpace) }  // unreachable error path: reserved before
        // unreachable error path without a colon
        throw FSError(.io)
        // unreachable error path:
        throw FSError(.io)
      }
      """
    let sites = ErrorHandlerInventory.sites(in: source, file: "F", language: .swift)
    #expect(sites.map(\.line) == [4, 7, 8, 10, 12])
    let m = sites.map(\.marker)
    #expect(
      m[0]
        == ErrorPathMarker(
          verdict: .unreachable, engines: ["ext4-model", "xfs-model"], reason: "only btrfs-model has `corrupt`."))
    #expect(m[1] == ErrorPathMarker(verdict: .notAnErrorPath, engines: nil, reason: "the loader rejects it"))
    #expect(m[2] == ErrorPathMarker(verdict: .unreachable, engines: nil, reason: "reserved before"))
    #expect(m[3] == nil && m[4] == nil)
    #expect(sites[0].unreachableReason(for: "ext4-model") == "only btrfs-model has `corrupt`.")
    #expect(sites[0].unreachableReason(for: "btrfs-model") == nil)
    #expect(sites[1].unreachableReason(for: "btrfs-model") == nil)
  }

  @Test("coverage lists marked sites apart, with their reasons, and a reached marked site as a wrong marker")
  func markedCoverage() throws {
    let marker = ErrorPathMarker(verdict: .unreachable, engines: ["e"], reason: "why")
    let sites = [
      ErrorHandlerSite(file: "A", line: 1, column: 1, kind: .throwStatement, marker: marker),
      ErrorHandlerSite(file: "A", line: 2, column: 1, kind: .catchClause, marker: marker),
      ErrorHandlerSite(file: "A", line: 3, column: 1, kind: .throwStatement),
      ErrorHandlerSite(file: "A", line: 4, column: 1, kind: .throwStatement),
    ]
    let c = EngineErrorCoverage(engine: "e", inventory: sites, reachedIDs: ["A:2:1", "A:4:1"])
    #expect(c.reached == 2 && c.total == 4)
    #expect(c.unreached.map(\.id) == ["A:3:1"])
    #expect(c.unreachable?.map(\.id) == ["A:1:1"])
    #expect(c.refuted?.map(\.id) == ["A:2:1"])
    #expect(c.words == "error paths reached: 2 of 4 (50%), 1 marked unreachable")
    // For an engine the marker does not name, the site is plainly unreached.
    let other = EngineErrorCoverage(engine: "f", inventory: sites, reachedIDs: [])
    #expect(other.unreached.count == 4 && other.unreachable == [] && other.refuted == [])
    // A merge keeps them apart.
    let m = try #require(
      EngineErrorCoverage.merge([c, EngineErrorCoverage(engine: "e", inventory: sites, reachedIDs: [])]))
    #expect(m.unreachable?.map(\.id) == ["A:1:1"] && m.refuted?.map(\.id) == ["A:2:1"] && m.reached == 2)
  }

  @Test("every marker written in the package's sources parses, with a reason")
  func packageMarkersParse() throws {
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let sources = root.appendingPathComponent("Sources")
    let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
      .filter { $0.hasSuffix(".swift") || $0.hasSuffix(".c") }.sorted()
    var written = 0
    for f in files where !f.hasSuffix("ErrorPathMarker.swift") {
      let text = try String(contentsOf: sources.appendingPathComponent(f), encoding: .utf8)
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
      let markerLines = lines.indices.filter { k in
        guard let r = lines[k].range(of: "//") else { return false }
        let c = lines[k][r.upperBound...].drop { $0 == " " || $0 == "/" }
        return c.hasPrefix("unreachable error path") || c.hasPrefix("not an error path")
      }
      guard !markerLines.isEmpty else { continue }
      written += markerLines.count
      let parsed = ErrorPathMarker.markers(in: text)
      let sites = ErrorHandlerInventory.sites(in: text, file: f, language: f.hasSuffix(".c") ? .c : .swift)
      for k in markerLines {
        // The code line the marker stands over: its own, or the first after its comment block.
        var j = k
        if lines[k].drop(while: { $0 == " " }).hasPrefix("//") {
          while j < lines.count, lines[j].drop(while: { $0 == " " }).hasPrefix("//") { j += 1 }
        }
        #expect(parsed[j + 1] != nil, "\(f):\(k + 1): a marker that does not parse (its words, `:` and a reason)")
        #expect(sites.contains { $0.line == j + 1 }, "\(f):\(k + 1): a marker over no error-handling site")
      }
    }
    #expect(written > 0)
  }
}
