import Foundation
import Testing

/// A sweep's last lines say what was swept, what it found against a baseline (`--known`), where
/// the reports are and what the exit status means; the status follows the baseline.
@Suite("sweep: the closing lines and --known")
struct SweepClosingTests {
  let plan = "Plans/btrfs/cow-enospc-second-iteration.yaml"

  func sweep(_ dir: URL, _ extra: [String]) throws -> CLI.Output {
    try CLI.run(
      ["sweep", plan, "--bug", "cow-error-leaves-pages-locked", "--jobs", "2", "--quiet", "--report-dir", dir.path]
        + extra)
  }

  /// The lines after the summary's totals line.
  func closing(_ out: String) -> [String] {
    let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard
      let i = lines.lastIndex(where: { $0.contains(" passed, ") && $0.contains(" failed") && !$0.hasPrefix("swept ") })
    else { return [] }
    return Array(lines[(i + 1)...]).filter { !$0.isEmpty }
  }

  @Test("no baseline: every failure is new, exit 1 said in the last line")
  func noBaseline() throws {
    let dir = try CLITests.scratch("closing-none")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try sweep(dir, [])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    let end = closing(r.stdout)
    #expect(end.first?.hasPrefix("swept 1 plan(s) (btrfs-model 1): ") == true, "\(end)")
    #expect(end.contains("1 distinct failure(s):"), "\(end)")
    #expect(end.contains("  1 in btrfs-model"), "\(end)")
    #expect(end.contains("no baseline given (--known FILE): each of them counts as new"), "\(end)")
    #expect(end.contains("reports: \(dir.path)/report.html (and results.json, junit.xml, repro/*.yaml)"), "\(end)")
    #expect(end.last?.hasPrefix("exit 1: 1 failure(s) neither expected by the engines nor in a baseline") == true)
  }

  @Test("the failure in the baseline: known, exit 0; a baseline without it: new, listed, exit 1")
  func withBaseline() throws {
    let dir = try CLITests.scratch("closing-known")
    defer { try? FileManager.default.removeItem(at: dir) }
    let first = try sweep(dir.appendingPathComponent("first"), [])
    let signature = try #require(
      first.stdout.split(separator: "\n").first { $0.hasPrefix("   signature: ") }?.dropFirst("   signature: ".count))
    let known = dir.appendingPathComponent("known.yaml")
    try "known:\n  - { plan: cow-enospc-second-iteration, signature: \"\(signature)\", why: test }\n".write(
      to: known, atomically: true, encoding: .utf8)
    let r = try sweep(dir.appendingPathComponent("known"), ["--known", known.path])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    let end = closing(r.stdout)
    #expect(end.contains("against the baseline \(known.path) (1 entries): 1 known, 0 new"), "\(end)")
    #expect(end.last?.hasPrefix("exit 0: nothing beyond the baseline and what the engines expect") == true, "\(end)")

    let other = dir.appendingPathComponent("other.yaml")
    try "known:\n  - { plan: cow-enospc-second-iteration, signature: \"not this one\", why: test }\n".write(
      to: other, atomically: true, encoding: .utf8)
    let o = try sweep(dir.appendingPathComponent("other"), ["--known", other.path])
    #expect(o.status == 1, "\(o.stdout)\(o.stderr)")
    let oend = closing(o.stdout)
    #expect(
      oend.contains(
        "against the baseline \(other.path) (1 entries): 0 known, 1 new; 1 of its entries for plans swept here not seen"
      ), "\(oend)")
    #expect(oend.contains("  new: plan: cow-enospc-second-iteration, signature: \"\(signature)\""), "\(oend)")
  }

  @Test("an unreadable or malformed --known file is bad input before anything is swept: exit 2")
  func badBaseline() throws {
    let dir = try CLITests.scratch("closing-bad")
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = dir.appendingPathComponent("bad.yaml")
    try "known:\n  - { plan: x }\n".write(to: bad, atomically: true, encoding: .utf8)
    for file in [bad.path, dir.appendingPathComponent("absent.yaml").path] {
      let r = try sweep(dir.appendingPathComponent("out"), ["--known", file])
      #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
      #expect(r.stderr.contains(file), "\(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/results.json").path))
    }
  }
}
