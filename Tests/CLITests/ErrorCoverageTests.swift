import FaultKit
import Foundation
import Testing

@testable import faultline

/// Error-handler coverage: the measuring pipeline (counters → llvm-profdata → llvm-cov → the
/// inventory's sites) on small programs built here with coverage, and `sweep --error-coverage`
/// itself: refused (exit 2) by a build without counters, measured by one with them.
@Suite("error-handler coverage")
struct ErrorCoverageTests {
  static let swiftSource = """
    struct E: Error {}
    func f(_ x: Int) throws -> Int {
      guard x > 0 else { throw E() }
      do {
        if x == 5 { throw E() }
        return x
      } catch let e as E {
        throw e
      }
    }
    enum R { case ok, fail(Int) }
    func g(_ r: R) -> Int {
      switch r {
      case .fail(let n): return n
      case .ok: return 0
      }
    }
    let args = CommandLine.arguments.dropFirst()
    for a in args { _ = try? f(Int(a)!) }
    _ = g(args.contains("9") ? .fail(1) : .ok)

    """

  static let cSource = """
    int f(int rc) {
      if (rc) return -1;
      return 0;
    }
    int main(int argc, char **argv) {
      (void)argv;
      return f(argc > 1) == -1 ? 0 : 0;
    }

    """

  static func scratch(_ name: String) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: d)
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
  }

  /// Builds `source` with coverage into `root/tiny`; nil when the compiler is not beside swift.
  func build(_ root: URL, file: String, source: String, compiler: String, flags: [String]) throws -> URL? {
    guard let cc = ErrorCoverageMeasure.tool(compiler) else { return nil }
    let src = root.appendingPathComponent(file)
    try FileManager.default.createDirectory(at: src.deletingLastPathComponent(), withIntermediateDirectories: true)
    try source.write(to: src, atomically: true, encoding: .utf8)
    let bin = root.appendingPathComponent("tiny")
    let out = try CLI.spawn(URL(fileURLWithPath: cc), flags + [src.path, "-o", bin.path], directory: root)
    #expect(out.status == 0, "\(out.stderr)")
    return bin
  }

  func measure(_ root: URL, _ bin: URL, folder: String) throws -> ErrorCoverageMeasure {
    let profdata = try #require(ErrorCoverageMeasure.tool("llvm-profdata"))
    let cov = try #require(ErrorCoverageMeasure.tool("llvm-cov"))
    return ErrorCoverageMeasure(
      profdata: profdata, cov: cov, binary: bin.path,
      sources: ErrorHandlerSources(root: root.path, folders: ["tiny": [folder]], excluded: [:]))
  }

  @Test("Swift: the handlers a run reached, by the counters; a second run's are united with the first's")
  func swiftPipeline() throws {
    let root = try Self.scratch("errcov-swift")
    defer { try? FileManager.default.removeItem(at: root) }
    guard
      let bin = try build(
        root, file: "Sources/Tiny/tiny.swift", source: Self.swiftSource, compiler: "swiftc",
        flags: ["-profile-generate", "-profile-coverage-mapping"])
    else { return }
    let profiles = root.appendingPathComponent("profiles")
    try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
    let m = try measure(root, bin, folder: "Sources/Tiny")
    // 1 and 5: the throw for 5, the catch and its rethrow; not the guard's throw, not the fail arm.
    var out = try CLI.spawn(
      bin, ["1", "5"], environment: ["LLVM_PROFILE_FILE": profiles.path + "/tiny.1.0.profraw"], directory: root)
    #expect(out.status == 0)
    let first = m.coverage(profiles: profiles, engines: ["tiny", "linux"], note: nil)
    #expect(first.map(\.engine) == ["linux", "tiny"])
    #expect(first[0].measured == false)
    let t = first[1]
    #expect(t.measured, "\(t.reason ?? "")")
    #expect(t.total == 5)
    #expect(
      t.reachedIDs == ["Sources/Tiny/tiny.swift:5:17", "Sources/Tiny/tiny.swift:7:22", "Sources/Tiny/tiny.swift:8:5"])
    #expect(t.unreached.map(\.words) == ["Sources/Tiny/tiny.swift:3 throw", "Sources/Tiny/tiny.swift:14 fail-branch"])
    // The raw counters were merged into the engine's profdata and removed.
    let left = try FileManager.default.contentsOfDirectory(atPath: profiles.path).sorted()
    #expect(left == ["tiny.profdata"])
    // A later run (a resume) adds what it reached.
    out = try CLI.spawn(
      bin, ["0", "9"], environment: ["LLVM_PROFILE_FILE": profiles.path + "/tiny.2.0.profraw"], directory: root)
    #expect(out.status == 0)
    let again = try m.reachedHandlerIDs(profiles: profiles, engine: "tiny")
    #expect(again.count == 5)
  }

  @Test("C: an error branch reached or not, by the counters")
  func cPipeline() throws {
    let root = try Self.scratch("errcov-c")
    defer { try? FileManager.default.removeItem(at: root) }
    guard
      let bin = try build(
        root, file: "Sources/TinyC/tiny.c", source: Self.cSource, compiler: "clang",
        flags: ["-fprofile-instr-generate", "-fcoverage-mapping"])
    else { return }
    let profiles = root.appendingPathComponent("profiles")
    try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
    let m = try measure(root, bin, folder: "Sources/TinyC")
    _ = try CLI.spawn(bin, [String](), environment: ["LLVM_PROFILE_FILE": profiles.path + "/tiny.1.0.profraw"])
    #expect(try m.reachedHandlerIDs(profiles: profiles, engine: "tiny") == Set<String>())
    _ = try CLI.spawn(bin, ["x"], environment: ["LLVM_PROFILE_FILE": profiles.path + "/tiny.2.0.profraw"])
    #expect(try m.reachedHandlerIDs(profiles: profiles, engine: "tiny") == Set(["Sources/TinyC/tiny.c:2:11"]))
    // No counters at all for an engine: not measured, never 0 reached.
    let none = m.coverage(profiles: root.appendingPathComponent("empty"), engines: ["tiny"], note: nil)
    #expect(none.first?.measured == false)
  }

  @Test("--error-coverage without a coverage build: exit 2 naming the command that builds one, nothing written")
  func refusedWithoutCounters() throws {
    guard carriesProfileRuntime(try CLI.binary) == false else { return }
    let dir = try Self.scratch("errcov-refused")
    defer { try? FileManager.default.removeItem(at: dir) }
    let reports = dir.appendingPathComponent("r")
    let out = try CLI.run([
      "sweep", "Plans/btrfs/write-fsync.yaml", "--error-coverage", "--report-dir", reports.path, "--quiet",
    ])
    #expect(out.status == 2, "\(out.stderr)")
    #expect(out.stderr.contains("no coverage counters"), "\(out.stderr)")
    #expect(out.stderr.contains("scripts/faultline --error-coverage"), "\(out.stderr)")
    #expect(!FileManager.default.fileExists(atPath: reports.path))
  }

  /// A coverage build of faultline: `FAULTLINE_COVERAGE_BINARY`, or .build-cov/release/faultline
  /// when it is newer than every source file (an older one is refused by faultline itself, rightly:
  /// its counters' lines are not the source's; that says nothing of this test's subject).
  static var coverageBinary: URL? {
    if let env = ProcessInfo.processInfo.environment["FAULTLINE_COVERAGE_BINARY"] {
      return FileManager.default.isExecutableFile(atPath: env) ? URL(fileURLWithPath: env) : nil
    }
    let path = CLI.root.appendingPathComponent(".build-cov/release/faultline").path
    guard FileManager.default.isExecutableFile(atPath: path),
      let built = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    else { return nil }
    let sources = CLI.root.appendingPathComponent("Sources").path
    let files = (FileManager.default.enumerator(atPath: sources)?.allObjects as? [String]) ?? []
    for f in files where f.hasSuffix(".swift") || f.hasSuffix(".c") || f.hasSuffix(".h") {
      let changed = (try? FileManager.default.attributesOfItem(atPath: sources + "/" + f))?[.modificationDate] as? Date
      if let changed, changed > built { return nil }
    }
    return URL(fileURLWithPath: path)
  }

  @Test(
    "sweep --error-coverage of one small plan: per engine N of M in results.json, the summary and report.html",
    .enabled(
      if: coverageBinary != nil,
      "needs a coverage build newer than the sources (scripts/faultline --error-coverage builds one)"))
  func sweepMeasures() throws {
    let bin = try #require(Self.coverageBinary)
    let dir = try Self.scratch("errcov-sweep")
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = try CLI.spawn(
      bin,
      [
        "sweep", "Plans/btrfs/write-enospc-at-reserve.yaml", "--error-coverage", "--jobs", "2", "--report-dir",
        dir.path, "--quiet",
      ], environment: ["LLVM_PROFILE_FILE": "/dev/null"], directory: CLI.root)
    #expect(out.status != 2, "\(out.stderr)")
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    let c = try #require(results.errorCoverage?.first)
    #expect(c.engine == "btrfs-model" && c.measured, "\(c.reason ?? "")")
    let inventory = try #require(try ErrorHandlerSources.builtIn.inventory(of: "btrfs-model"))
    #expect(c.total == inventory.count)
    #expect(c.reached > 0 && c.reached < c.total)
    #expect(c.reached + c.unreached.count + (c.unreachable?.count ?? 0) == c.total)
    // The injected reserve.data failure's throw in the buffered write is reached; the real
    // ENOSPC check after it (the plan leaves plenty of space) is not.
    let file = "Sources/BtrfsModel/BtrfsEngine.swift"
    let lines = try String(contentsOf: CLI.root.appendingPathComponent(file), encoding: .utf8)
      .split(separator: "\n", omittingEmptySubsequences: false)
    let start = try #require(lines.firstIndex { $0.contains("func bufferedWrite(") })
    let injected = try #require(
      lines[start...].firstIndex { $0.contains("harness.hit(BtrfsModel.Point.reserveData) { throw e }") })
    #expect(c.reachedIDs.contains { $0.hasPrefix("\(file):\(injected + 1):") }, "\(c.reachedIDs)")
    #expect(c.unreached.contains { $0.words == "\(file):\(injected + 2) throw" }, "\(c.unreached)")
    #expect(out.stdout.contains("btrfs-model: error paths reached: \(c.reached) of \(c.total)"), "\(out.stdout)")
    #expect(out.stdout.contains("  unreached:"))
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(html.contains("error paths reached: \(c.reached) of \(c.total)"))
    #expect(html.contains("<code>\(c.unreached[0].file)</code></td><td>\(c.unreached[0].line)</td>"))
  }
}

/// Whether `binary` carries the profile runtime (a coverage build).
private func carriesProfileRuntime(_ binary: URL) -> Bool {
  guard let data = FileManager.default.contents(atPath: binary.path) else { return false }
  return data.range(of: Data("__llvm_profile_runtime".utf8)) != nil
}
