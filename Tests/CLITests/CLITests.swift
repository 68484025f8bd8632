import Foundation
import Testing

/// Runs the built `faultline` binary the way a user does and checks exit statuses and output.
enum CLI {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The binary next to the test bundle (`swift test` builds every product into one folder), or
  /// the one `FAULTLINE_CLI_BINARY` names (to run these tests against an older build).
  static var binary: URL {
    get throws {
      if let other = ProcessInfo.processInfo.environment["FAULTLINE_CLI_BINARY"] {
        return URL(fileURLWithPath: other)
      }
      let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
      let candidates = [
        here.appendingPathComponent("faultline"), root.appendingPathComponent(".build/debug/faultline"),
      ]
      guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CLIError(message: "faultline binary not found at \(candidates.map(\.path))")
      }
      return found
    }
  }

  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  static func run(_ args: [String], environment: [String: String]? = nil) throws -> Output {
    try spawn(binary, args, environment: environment, directory: root)
  }

  /// Runs a program to its end and collects both outputs. Standard error is drained on its own
  /// thread: a program that fills that pipe while we wait on standard output would never end.
  /// `inherit: false`: the program gets exactly `environment`, nothing of the test's own.
  static func spawn(
    _ program: URL, _ args: [String], environment: [String: String]? = nil, directory: URL? = nil,
    inherit: Bool = true
  ) throws -> Output {
    let p = Process()
    p.executableURL = program
    p.arguments = args
    if let directory { p.currentDirectoryURL = directory }
    if let environment {
      p.environment = inherit ? ProcessInfo.processInfo.environment.merging(environment) { $1 } : environment
    }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let errData = Drain(err.fileHandleForReading)
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = errData.wait()
    p.waitUntilExit()
    return Output(
      status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
      stderr: String(decoding: e, as: UTF8.self))
  }
}

/// Reads a pipe to its end on a thread of its own.
final class Drain: @unchecked Sendable {
  private var data = Data()
  private let done = DispatchSemaphore(value: 0)
  init(_ handle: FileHandle) {
    Thread.detachNewThread { [self] in
      data = handle.readDataToEndOfFile()
      done.signal()
    }
  }
  func wait() -> Data {
    done.wait()
    return data
  }
}

struct CLIError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

@Suite("faultline CLI")
struct CLITests {
  let seed = "Plans/btrfs/cow-enospc-second-iteration.yaml"

  @Test("the seed plan passes on the fixed engine: exit 0")
  func seedPasses() throws {
    let r = try CLI.run(["run", seed])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("PASS cow-enospc-second-iteration"))
  }

  @Test("cow-error-leaves-pages-locked: exit 1, locks-released and no-hang, leaked page locks, the wait-for graph")
  func pagesLocked() throws {
    let r = try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked"])
    #expect(r.status == 1)
    let lines = r.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first?.hasPrefix("FAIL cow-enospc-second-iteration") == true)
    #expect(lines.dropFirst().first == "violated: delalloc-backed, locks-released, no-hang")
    #expect(r.stdout.contains("locks-released (after writer op 2 (writeback) failed)"))
    #expect(r.stdout.contains("pages /a#1-3 locked: unlocked -> locked (holder: writer in writeback #2)"))
    #expect(r.stdout.contains("writer (in fsync #3) waits on page /a#1"))
    #expect(
      r.stdout.contains(
        "page /a#1 is held by writer in writeback #2: writer returned from writeback #2 without releasing it (self-deadlock)"
      ))
    // Order: invariant, then fault, then diff, then trace.
    let order = ["locks-released (", "fault: alloc.data#2 fail: ENOSPC", "diff at rest", "trace around the fault"].map {
      r.stdout.range(of: $0)?.lowerBound
    }
    #expect(order.allSatisfy { $0 != nil })
    #expect(zip(order, order.dropFirst()).allSatisfy { $0! < $1! })
  }

  @Test("cow-error-leaks-ordered-extents: exit 1 naming ordered-extents-complete")
  func orderedLeak() throws {
    let r = try CLI.run(["run", seed, "--bug", "cow-error-leaks-ordered-extents"])
    #expect(r.status == 1)
    #expect(r.stdout.contains("ordered-extents-complete (at rest): 1 ordered extent(s) never completed"))
    #expect(r.stdout.contains("waits on ordered extent /a [0, 16KiB)"))
  }

  @Test("validate: a misspelt key exits 2 with file:line:column and the near key")
  func misspeltKey() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-cli-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let text = try String(contentsOf: CLI.root.appendingPathComponent(seed), encoding: .utf8)
      .replacingOccurrences(of: "\nfaults:", with: "\nfautls:")
    let bad = dir.appendingPathComponent("bad.yaml")
    try text.write(to: bad, atomically: true, encoding: .utf8)
    let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("fautls:") }! + 1
    let r = try CLI.run(["validate", bad.path])
    #expect(r.status == 2)
    #expect(r.stderr.contains("\(bad.path):\(line):1: error: fautls"))
    #expect(r.stderr.contains("did you mean 'faults'?"))
    #expect(r.stdout.isEmpty)
  }

  @Test("two runs with the same seed print byte-identical JSON")
  func jsonDeterministic() throws {
    // Every plan but the linux ones that count the kernel's allocations (`fail-nth: true`) or the
    // disk's bios (`make-it-fail: true`): how many an operation makes, and so where btrfs's
    // allocator lands, follows the kernel's timing; PlanTests leaves them out of its determinism
    // check for the same reason (Plans/linux/README).
    let all = try FileManager.default.subpathsOfDirectory(atPath: CLI.root.appendingPathComponent("Plans").path)
      .filter { $0.hasSuffix(".yaml") && $0 != "known-failures.yaml" }.sorted()
      .map { "Plans/" + $0 }
    let counting = all.filter { f in
      let text = (try? String(contentsOf: CLI.root.appendingPathComponent(f), encoding: .utf8)) ?? ""
      return text.contains("fail-nth: true") || text.contains("make-it-fail: true")
    }
    let files = all.filter { !counting.contains($0) }
    #expect(files.count > 40, "\(files)")
    // Those plans still give the same verdict: how each ended, each operation and its outcome,
    // what fired and which invariants failed (not the extents and space the kernel chose).
    #expect(!counting.isEmpty)
    func verdicts(_ out: String) -> String {
      let runs = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [[String: Any]] ?? []
      return runs.map { r in
        let ops = (r["ops"] as? [[String: Any]] ?? []).map { o in
          let outcome = (o["outcome"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map {
            "\($0.key)=\($0.value)"
          }
          return "\(o["op"] ?? "") \(outcome)"
        }
        let failed = (r["violations"] as? [[String: Any]] ?? []).map { "\($0["invariant"] ?? "")" }
        return "\(r["plan"] ?? "") \(r["stop"] ?? "") \(ops) fired \(r["fired"] ?? "") violated \(failed)"
      }.joined(separator: "\n")
    }
    let x = try CLI.run(["run"] + counting + ["--seed", "17", "--format", "json"])
    let y = try CLI.run(["run"] + counting + ["--seed", "17", "--format", "json"])
    #expect(x.status == 0 && y.status == 0, "\(x.stderr)\(y.stderr)")
    #expect(!verdicts(x.stdout).isEmpty && verdicts(x.stdout) == verdicts(y.stdout))
    let args = ["run"] + files + ["--seed", "17", "--format", "json"]
    let a = try CLI.run(args)
    let b = try CLI.run(args)
    #expect(a.status == 0)
    #expect(!a.stdout.isEmpty && a.stdout == b.stdout)
    let bugged = try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked", "--format", "json"])
    #expect(bugged.status == 1)
    #expect(
      bugged.stdout
        == (try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked", "--format", "json"])).stdout)
    let obj = try JSONSerialization.jsonObject(with: Data(bugged.stdout.utf8)) as? [[String: Any]]
    #expect(obj?.first?["stop"] as? String == "hang")
  }

  @Test("bad input exits 2: unknown bug, unknown engine filter, no arguments, missing file")
  func badInput() throws {
    let bug = try CLI.run(["run", seed, "--bug", "cow-error-leaves-page-locked"])
    #expect(bug.status == 2)
    #expect(bug.stderr.contains("did you mean 'cow-error-leaves-pages-locked'?"))
    #expect(try CLI.run(["points", "--engine", "btrfs-mdel"]).status == 2)
    #expect(try CLI.run(["run"]).status == 2)
    let missing = try CLI.run(["run", "Plans/nope.yaml"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("Plans/nope.yaml:1:1"))
  }

  @Test("points and engines list the catalog")
  func catalog() throws {
    let r = try CLI.run(["points", "--engine", "btrfs-model"])
    #expect(r.status == 0)
    for p in ["alloc.data", "reserve.data", "reserve.metadata", "io.write", "txn.commit"] {
      #expect(r.stdout.contains(p))
    }
    #expect(r.stdout.contains("errnos: ENOSPC; actions: fail,short,yield"))
    let e = try CLI.run(["engines"])
    #expect(e.stdout.contains("cow-error-leaves-pages-locked"))
  }

  @Test("--schedules runs random schedules and reports each distinct failure once")
  func schedules() throws {
    let ok = try CLI.run(["run", "Plans/btrfs/two-writers-eio.yaml", "--schedules", "20"])
    #expect(ok.status == 0, "\(ok.stdout)")
    #expect(ok.stdout.contains("two-writers-eio: 20 schedules, 20 passed, 0 failed, 0 distinct failure(s)"))
    let bad = try CLI.run([
      "run", "Plans/btrfs/fixup-migration-window.yaml", "--bug", "fixup-page-cleaned-before-worker", "--schedules",
      "40",
    ])
    #expect(bad.status == 1)
    // Every schedule fails; how it fails depends on when the worker ran (the migration's
    // unexpected success alone, or with the data lost): one report per distinct failure.
    let reports = bad.stdout.components(separatedBy: "FAIL fixup-migration-window").count - 1
    #expect(bad.stdout.contains("40 schedules, 0 passed, 40 failed, \(reports) distinct failure(s)"), "\(bad.stdout)")
    #expect(reports >= 1 && reports < 40)
    #expect(bad.stdout.contains("violated: data-durable, errors-reported"))
    #expect(try CLI.run(["run", "Plans", "--schedules", "0"]).status == 2)
  }

  @Test("FAULTLINE_TRACE streams the trace to standard error")
  func liveTrace() throws {
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = ["run", seed]
    p.currentDirectoryURL = CLI.root
    p.environment = ["FAULTLINE_TRACE": "1"]
    let err = Pipe()
    p.standardError = err
    p.standardOutput = Pipe()
    try p.run()
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(e.contains("trace: writer: hit alloc.data#2 in writeback: fail: ENOSPC  <== injected"))
  }

  static func scratch(_ name: String) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: d)
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
  }

  @Test("a crashing and a hanging engine each cost one scenario; the sweep completes with repros")
  func plantedCrashAndHang() throws {
    let dir = try Self.scratch("planted")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try CLI.run(
      ["sweep", "Tests/Fixtures/planted.yaml", "--jobs", "2", "--timeout", "2", "--quiet", "--report-dir", dir.path],
      environment: ["FAULTLINE_PLANTED": "1"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("planted: 13 scenarios, 5 passed, 8 failed, 2 distinct failure(s)"), "\(r.stdout)")
    #expect(
      r.stdout.contains("1. crashed after planted.crash#1 fail: EIO\n   plan planted (planted-model), 4 scenario(s)"))
    #expect(r.stdout.contains("Fatal error: planted crash"))
    #expect(
      r.stdout.contains("2. timed-out after planted.hang#1 fail: EIO\n   plan planted (planted-model), 4 scenario(s)"))
    // A fault placed where the engine then died counts as fired and failed in coverage.
    #expect(r.stdout.contains("coverage planted-model: 3 points declared, 3 reached, 3 fired, 2 led to a failure"))
    for n in 1...2 {
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("repro/planted-repro-\(n).yaml").path))
    }
    let lines = try String(contentsOf: dir.appendingPathComponent("journal.jsonl"), encoding: .utf8).split(
      separator: "\n")
    #expect(lines.count == 13)
  }

  @Test("a sweep killed with SIGKILL and resumed ends with the same results as one never killed")
  func killAndResume() throws {
    let whole = try Self.scratch("whole")
    let killed = try Self.scratch("killed")
    defer {
      try? FileManager.default.removeItem(at: whole)
      try? FileManager.default.removeItem(at: killed)
    }
    let args = ["sweep", "Plans/xfs", "--points", "*", "--jobs", "1", "--quiet"]
    let full = try CLI.run(args + ["--report-dir", whole.path])
    #expect(full.status == 0, "\(full.stdout)\(full.stderr)")
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = args + ["--report-dir", killed.path]
    p.currentDirectoryURL = CLI.root
    p.standardOutput = Pipe()
    p.standardError = Pipe()
    try p.run()
    let journal = killed.appendingPathComponent("journal.jsonl")
    var journaled = 0
    for _ in 0..<6000 where journaled < 40 {
      usleep(10_000)
      journaled = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let before = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n").count
    #expect(before >= 40 && before < 300, "killed after \(before) scenarios")
    #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("results.json").path))
    let resumed = try CLI.run(args + ["--resume", killed.path])
    #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
    let a = try Data(contentsOf: whole.appendingPathComponent("results.json"))
    let b = try Data(contentsOf: killed.appendingPathComponent("results.json"))
    #expect(a == b)
  }

  @Test("a sweep of every plan at every point finds nothing on the fixed engines (no false positives)")
  func noFalsePositives() throws {
    let dir = try Self.scratch("corpus")
    defer { try? FileManager.default.removeItem(at: dir) }
    // The model engines: their fixed versions must be clean. (The ext2fs engine is real code;
    // what its sweep finds is in Plans/ext2fs/README.md.)
    // With the explored corpus; what fails is real ext4 behaviour the model keeps on purpose,
    // each listed in the baseline (Sources/Ext4Model/README.md): nothing else may.
    let r = try CLI.run([
      "sweep", "Plans/btrfs", "Plans/xfs", "Plans/ext4", "Plans/corpus", "--points", "*", "--jobs", "2", "--quiet",
      "--known", "Plans/known-failures.yaml", "--report-dir", dir.path,
    ])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    let lines = r.stdout.split(separator: "\n").map(String.init)
    // The summary's totals line (the closing "swept …" line after it ends the same way).
    let totals = lines.last { $0.hasSuffix(" failed") && $0.contains(" passed, ") && !$0.hasPrefix("swept ") } ?? ""
    #expect(!totals.isEmpty, "\(r.stdout)")
    let passed = Int(totals.split(separator: " ").first ?? "") ?? 0
    let failed = Int(totals.split(separator: " ").dropLast().last ?? "") ?? -1
    #expect(passed > 10000 && (0...8).contains(failed), "\(totals)")
    #expect(lines.contains { $0.hasPrefix("against the baseline") && $0.hasSuffix(" 0 new") }, "\(r.stdout)")
    #expect(!r.stdout.contains("in btrfs-model") && !r.stdout.contains("in xfs-model"), "\(r.stdout)")
  }

  @Test("two shards merged equal one unsharded run")
  func shardsMerge() throws {
    let dirs = try ["one", "s0", "s1", "merged"].map { try Self.scratch("shard-\($0)") }
    defer { for d in dirs { try? FileManager.default.removeItem(at: d) } }
    let args = [
      "sweep", "Plans/btrfs/cow-enospc-second-iteration.yaml", "Plans/btrfs/write-fsync.yaml",
      "--points", "*", "--bug", "cow-error-leaves-pages-locked", "--quiet", "--in-process",
    ]
    _ = try CLI.run(args + ["--report-dir", dirs[0].path])
    _ = try CLI.run(args + ["--report-dir", dirs[1].path, "--shard", "0/2"])
    // The second shard from the environment, as a CI matrix would set it.
    _ = try CLI.run(args + ["--report-dir", dirs[2].path], environment: ["FAULTLINE_SHARD": "1/2"])
    let m = try CLI.run(["report", "--merge", dirs[1].path, dirs[2].path, "--report-dir", dirs[3].path])
    #expect(m.status == 1, "the bug's failures are in the merged report: \(m.stdout)\(m.stderr)")
    let one = try Data(contentsOf: dirs[0].appendingPathComponent("results.json"))
    let merged = try Data(contentsOf: dirs[3].appendingPathComponent("results.json"))
    #expect(one == merged)
    let s0 = SweepJournalCount(dirs[1])
    let s1 = SweepJournalCount(dirs[2])
    #expect(s0 > 0 && s1 > 0)
  }
}

private func SweepJournalCount(_ dir: URL) -> Int {
  ((try? String(contentsOf: dir.appendingPathComponent("journal.jsonl"), encoding: .utf8)) ?? "").split(separator: "\n")
    .count
}
