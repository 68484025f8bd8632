import FaultKit
import Foundation
import Testing

/// What a sweep prints where: progress on standard error (standard output is the summary, for a
/// pipe or a file); `--resume DIR` alone continues a sweep, its progress counting on from the
/// journal; `points ENGINE`; a point fired at is never "reached by no plan".
@Suite("sweep terminal output", .serialized)
struct SweepTerminalTests {
  static func progressLines(_ text: String) -> [Substring] {
    text.split(separator: "\n").filter { $0.contains(" scenarios, ") && $0.contains(" failed") && $0.contains("ETA") }
  }

  @Test("progress lines go to standard error when standard output is not a terminal")
  func progressOnStderr() throws {
    let dir = try CLITests.scratch("progress")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try CLI.run([
      "sweep", "Plans/btrfs/cow-enospc-second-iteration.yaml", "--in-process", "--report-dir", dir.path,
    ])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(Self.progressLines(r.stdout).isEmpty, "progress on stdout: \(r.stdout)")
    #expect(!Self.progressLines(r.stderr).isEmpty, "no progress on stderr: \(r.stderr)")
    #expect(r.stdout.contains(" passed, 0 failed"), "\(r.stdout)")
  }

  @Test("sweep --resume DIR needs no plan paths, and its failed count goes on from the journal's")
  func resumeAlone() throws {
    let dir = try CLITests.scratch("resume-alone")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = [
      "sweep", "Plans/ext2fs/write-append.yaml", "--points", "io.write", "--depth", "1", "--jobs", "2", "--report-dir",
      dir.path,
    ]
    p.currentDirectoryURL = CLI.root
    p.standardError = FileHandle.nullDevice
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let journal = dir.appendingPathComponent("journal.jsonl")
    #expect(ReportDirectoryTests.wait(for: 40, linesOf: journal) >= 40, "the sweep did not start")
    kill(p.processIdentifier, SIGINT)
    p.waitUntilExit()
    #expect(p.terminationStatus == 130)
    let journaled = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
    // The journal's scenarios include failures: the resumed count must start from those.
    try #require(!journaled.isEmpty)

    // From another directory, by a relative path: the plan path the sweep recorded
    // (Plans/ext2fs/…) is relative to where it started, which the resume goes back to.
    let r = try CLI.spawn(
      CLI.binary, ["sweep", "--resume", dir.lastPathComponent], directory: dir.deletingLastPathComponent())
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("already done"), "\(r.stdout)")
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    #expect(results.failed > 0)
    let last = try #require(Self.progressLines(r.stderr).last, "\(r.stderr)")
    #expect(last.hasSuffix(", \(results.failed) failed"), "last progress line: \(last); results: \(results.failed)")
    #expect(last.hasPrefix("\(results.scenarios)/\(results.scenarios) scenarios"), "\(last)")

    // A directory without a sweep, and a sweep with nothing at all: exit 2, said.
    let none = try CLI.run(["sweep", "--resume", dir.appendingPathComponent("nothing").path])
    #expect(none.status == 2 && none.stderr.contains("no meta.json of a sweep there"), "\(none.stderr)")
    let empty = try CLI.run(["sweep"])
    #expect(empty.status == 2 && empty.stderr.contains("expected plan files or directories"), "\(empty.stderr)")
  }

  @Test("points ENGINE is points --engine ENGINE")
  func pointsPositional() throws {
    let a = try CLI.run(["points", "ext2fs"])
    let b = try CLI.run(["points", "--engine", "ext2fs"])
    #expect(a.status == 0, "\(a.stderr)")
    #expect(a.stdout == b.stdout && a.stdout.hasPrefix("ext2fs:\n"))
    let typo = try CLI.run(["points", "ext2f"])
    #expect(typo.status == 2 && typo.stderr.contains("did you mean 'ext2fs'?"), "\(typo.stderr)")
    let two = try CLI.run(["points", "ext2fs", "--engine", "btrfs-model"])
    #expect(two.status == 2, "\(two.stdout)")
  }
}
