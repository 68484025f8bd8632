import Foundation
import Testing

/// Budgets, signals, I/O errors and what a sweep leaves behind.
@Suite("sweep budgets, signals, messages and leftovers")
struct SweepLifecycleTests {
  /// A plan of 10,000 operations: loading it takes a second, its space minutes.
  static func bigPlan(in dir: URL) throws -> URL {
    var ops: [String] = []
    for i in 0..<10_000 {
      ops.append(
        i % 3 == 2
          ? "      - fsync: { path: /a }" : "      - write: { path: /a, offset: \((i % 1000) * 4096), length: 4096 }")
    }
    let f = dir.appendingPathComponent("big.yaml")
    let text = "plan: big\nengine: btrfs-model\nsetup: { files: [ { path: /a } ] }\ntasks:\n  - name: w\n    ops:\n"
    try (text + ops.joined(separator: "\n") + "\n").write(to: f, atomically: true, encoding: .utf8)
    return f
  }

  @Test("--budget covers loading and the space: a 10,000-op plan with --budget 3 ends in seconds, incomplete")
  func budget() throws {
    let dir = try CLITests.scratch("budget")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plan = try Self.bigPlan(in: dir)
    let out = dir.appendingPathComponent("r")
    let start = Date()
    let r = try CLI.run(["sweep", plan.path, "--budget", "3", "--in-process", "--quiet", "--report-dir", out.path])
    let took = Date().timeIntervalSince(start)
    #expect(took < 30, "took \(took)s")
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("budget of 3s ran out while the sweep's space was computed"), "\(r.stdout)")
    #expect(r.stdout.contains("incomplete: the budget ran out"), "\(r.stdout)")
    let results = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json")))
    #expect((results as? [String: Any])?["complete"] as? Bool == false)
  }

  @Test("Ctrl-C: exit 130, how to resume, no temporary file left; the command it prints finishes the sweep")
  func interrupt() throws {
    let dir = try CLITests.scratch("interrupt")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = ["sweep", "Plans/btrfs", "Plans/xfs", "--points", "*", "--jobs", "2", "--report-dir", dir.path]
    p.currentDirectoryURL = CLI.root
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    let started = Date()
    try p.run()
    let journal = dir.appendingPathComponent("journal.jsonl")
    #expect(ReportDirectoryTests.wait(for: 10, linesOf: journal) >= 10, "the sweep did not start")
    kill(p.processIdentifier, SIGINT)
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationReason == .exit && p.terminationStatus == 130, "\(p.terminationStatus) \(message)")
    #expect(message.contains("interrupted: every scenario that finished is in \(journal.path)"), "\(message)")
    let resume = "faultline sweep Plans/btrfs Plans/xfs --points '*' --jobs 2 --resume \(dir.path)"
    #expect(message.contains("to continue: \(resume)"), "\(message)")
    let left = Supervised.tmpLeftovers([p.processIdentifier], since: started)
    #expect(left.isEmpty, "\(left)")
    let r = try CLI.run(["sweep", "Plans/btrfs", "Plans/xfs", "--points", "*", "--jobs", "2", "--resume", dir.path])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
  }

  @Test("a full disk stops the sweep at the journal write that failed, saying the path and the reason")
  func fullDisk() throws {
    let dir = try CLITests.scratch("full")
    defer { try? FileManager.default.removeItem(at: dir) }
    // A 64 KiB tmpfs; mounting needs privileges the test may not have.
    let mounted = try CLI.spawn(
      URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path])
    guard mounted.status == 0 else { return }
    defer { _ = try? CLI.spawn(URL(fileURLWithPath: "/bin/umount"), [dir.path]) }
    let out = dir.appendingPathComponent("r")
    let r = try CLI.run([
      "sweep", "Plans/btrfs", "Plans/xfs", "Plans/ext4", "--points", "*", "--in-process", "--quiet", "--report-dir",
      out.path,
    ])
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(
      r.stderr.hasPrefix("\(out.path)/journal.jsonl: cannot append to the journal (No space left on device)"),
      "\(r.stderr)")
    #expect(r.stderr.contains("the sweep stopped"))
    #expect(!r.stderr.contains("NSCocoaErrorDomain"))
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("results.json").path))
  }

  @Test("a report directory that cannot be made is PATH: reason; --jobs past the cores is said")
  func messages() throws {
    let dir = try CLITests.scratch("messages")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("file")
    try "x".write(to: file, atomically: true, encoding: .utf8)
    let r = try CLI.run([
      "sweep", "Plans/btrfs/write-fsync.yaml", "--in-process", "--quiet", "--report-dir", file.path + "/sub",
    ])
    #expect(r.status == 2)
    #expect(r.stderr.hasPrefix("\(file.path)/sub: cannot create the directory (Not a directory)"), "\(r.stderr)")
    #expect(!r.stderr.contains("NSCocoaErrorDomain"))

    let cores = ProcessInfo.processInfo.activeProcessorCount
    let jobs = try CLI.run([
      "sweep", "Plans/btrfs/write-fsync.yaml", "--jobs", "\(cores + 4)", "--quiet", "--report-dir",
      dir.appendingPathComponent("jobs").path,
    ])
    #expect(jobs.status == 0, "\(jobs.stdout)\(jobs.stderr)")
    #expect(
      jobs.stderr.contains("--jobs \(cores + 4): this machine has \(cores) core"), "\(jobs.stderr)")
  }
}
