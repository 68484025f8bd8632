import Foundation
import Testing

/// A report directory belongs to one run at a time, and never shows an earlier run's reports as
/// this one's.
@Suite("report directories")
struct ReportDirectoryTests {
  static let small = "Plans/btrfs/cow-enospc-second-iteration.yaml"
  /// Thousands of scenarios: long enough to be caught running.
  static let slow = ["sweep", "Plans/btrfs", "Plans/xfs", "Plans/ext4", "--points", "*", "--in-process", "--quiet"]

  /// Starts the CLI without waiting for it.
  static func start(_ args: [String], in directory: URL = CLI.root) throws -> Process {
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = args
    p.currentDirectoryURL = directory
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
  }

  /// Waits (up to 10 minutes) until `url` has `n` lines; how many it has.
  static func wait(for n: Int, linesOf url: URL) -> Int {
    var seen = lines(url)
    var waits = 0
    while seen < n && waits < 60_000 {
      usleep(10_000)
      waits += 1
      seen = lines(url)
    }
    return seen
  }

  static func lines(_ url: URL) -> Int {
    ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").count
  }

  @Test("a second run into a directory in use is refused naming the first's pid; an earlier run's reports go first")
  func exclusive() throws {
    let dir = try CLITests.scratch("in-use")
    defer { try? FileManager.default.removeItem(at: dir) }
    let fm = FileManager.default
    // An earlier, complete sweep: results.json, a junit.xml and repros.
    let earlier = try CLI.run([
      "sweep", Self.small, "--bug", "cow-error-leaves-pages-locked", "--in-process", "--quiet", "--report-dir",
      dir.path,
    ])
    #expect(earlier.status == 1)
    for f in ["results.json", "junit.xml", "report.html", "repro"] {
      #expect(fm.fileExists(atPath: dir.appendingPathComponent(f).path))
    }

    // Its journal goes, so that the next one's lines say the next sweep is under way.
    let journal = dir.appendingPathComponent("journal.jsonl")
    try fm.removeItem(at: journal)
    let first = try Self.start(Self.slow + ["--report-dir", dir.path])
    defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
    #expect(Self.wait(for: 5, linesOf: journal) >= 5, "the sweep did not start")
    // While it runs, nothing of the earlier run is there to be read as this one's.
    for f in ["results.json", "junit.xml", "report.html", "repro", "timings.json"] {
      #expect(!fm.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) of the earlier run is still there")
    }

    for args in [Self.slow + ["--report-dir", dir.path], ["run", Self.small, "--report-dir", dir.path]] {
      let second = try CLI.run(args)
      #expect(second.status == 2, "\(args[0]): \(second.stdout)\(second.stderr)")
      #expect(
        second.stderr.contains("\(dir.path): in use by another faultline (pid \(first.processIdentifier))"),
        "\(second.stderr)")
    }

    // Killed, it holds nothing: the kernel dropped its lock.
    kill(first.processIdentifier, SIGKILL)
    first.waitUntilExit()
    let after = try CLI.run(["run", Self.small, "--report-dir", dir.path])
    #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
    #expect(!fm.fileExists(atPath: dir.appendingPathComponent("journal.jsonl").path))
    #expect(!fm.fileExists(atPath: dir.appendingPathComponent(".lock").path))
  }

  @Test("sweeps started together without --report-dir get a directory each; Reports/latest names one")
  func uniqueDefaults() throws {
    let cwd = try CLITests.scratch("defaults")
    defer { try? FileManager.default.removeItem(at: cwd) }
    let plan = CLI.root.appendingPathComponent(Self.small).path
    let runs = try (0..<3).map { _ in try Self.start(["sweep", plan, "--in-process", "--quiet"], in: cwd) }
    for p in runs { p.waitUntilExit() }
    #expect(runs.allSatisfy { $0.terminationStatus == 0 })
    let reports = cwd.appendingPathComponent("Reports")
    let made = try FileManager.default.contentsOfDirectory(atPath: reports.path).filter { $0 != "latest" }
    #expect(made.count == 3, "\(made)")
    // Each its own: one journal per run, not three runs' lines in one.
    let counts = try made.map { d in
      let results = try Data(contentsOf: reports.appendingPathComponent(d).appendingPathComponent("results.json"))
      #expect(!results.isEmpty)
      return Self.lines(reports.appendingPathComponent(d).appendingPathComponent("journal.jsonl"))
    }
    #expect(counts.allSatisfy { $0 > 0 && $0 == counts[0] }, "\(counts)")
    let latest = try FileManager.default.destinationOfSymbolicLink(
      atPath: reports.appendingPathComponent("latest").path)
    #expect(made.contains(latest))
  }

  @Test("--resume A --report-dir B is refused: a resume writes where it started")
  func resumeElsewhere() throws {
    let a = try CLITests.scratch("resume-a")
    let b = try CLITests.scratch("resume-b")
    defer {
      try? FileManager.default.removeItem(at: a)
      try? FileManager.default.removeItem(at: b)
    }
    let args = ["sweep", Self.small, "--in-process", "--quiet"]
    #expect(try CLI.run(args + ["--report-dir", a.path]).status == 0)
    let r = try CLI.run(args + ["--resume", a.path, "--report-dir", b.path])
    #expect(r.status == 2)
    #expect(r.stderr.contains("a resumed sweep writes where it started"), "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: b.path).isEmpty)
    // The same directory named twice is fine.
    #expect(try CLI.run(args + ["--resume", a.path, "--report-dir", a.path + "/"]).status == 0)
  }
}
