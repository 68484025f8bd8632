import Foundation
import Testing

/// A resume and a merge join only what belongs together, and say what does not.
@Suite("resume and merge check what they join")
struct ResumeMergeTests {
  static let args = ["--points", "*", "--bug", "cow-error-leaves-pages-locked", "--in-process", "--quiet"]

  /// A copy of the seed plan in `dir`, to edit.
  static func plan(in dir: URL) throws -> URL {
    let f = dir.appendingPathComponent("seed.yaml")
    try FileManager.default.copyItem(
      at: CLI.root.appendingPathComponent("Plans/btrfs/cow-enospc-second-iteration.yaml"), to: f)
    return f
  }

  static func edit(_ f: URL) throws {
    let text = try String(contentsOf: f, encoding: .utf8)
    try (text + "# edited after the sweep started\n").write(to: f, atomically: true, encoding: .utf8)
  }

  @Test("--resume refuses a plan edited since the sweep started, and leaves the directory as it was")
  func editedPlan() throws {
    let dir = try CLITests.scratch("edited")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plan = try Self.plan(in: dir)
    let out = dir.appendingPathComponent("run")
    #expect(try CLI.run(["sweep", plan.path] + Self.args + ["--report-dir", out.path]).status == 1)
    let before = try Data(contentsOf: out.appendingPathComponent("results.json"))
    try Self.edit(plan)
    let r = try CLI.run(["sweep", plan.path] + Self.args + ["--resume", out.path])
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("plan \(plan.path) was edited"), "\(r.stderr)")
    #expect(try Data(contentsOf: out.appendingPathComponent("results.json")) == before)
  }

  @Test("a torn last journal line is cut off on resume, not appended to")
  func tornJournal() throws {
    let dir = try CLITests.scratch("torn")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plan = try Self.plan(in: dir)
    let whole = dir.appendingPathComponent("whole")
    let torn = dir.appendingPathComponent("torn")
    let sweep = ["sweep", plan.path] + Self.args
    #expect(try CLI.run(sweep + ["--report-dir", whole.path]).status == 1)
    #expect(try CLI.run(sweep + ["--report-dir", torn.path]).status == 1)
    // As a kill mid-write leaves it: half the lines, then half a line.
    let journal = torn.appendingPathComponent("journal.jsonl")
    let lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
    let kept = lines.prefix(lines.count / 2).joined(separator: "\n") + "\n" + lines[lines.count / 2].prefix(40)
    try kept.write(to: journal, atomically: true, encoding: .utf8)

    let r = try CLI.run(sweep + ["--resume", torn.path])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    let after = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
    #expect(after.count == lines.count)
    for line in after {
      #expect(
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not a line of JSON: \(line.prefix(80))")
    }
    #expect(
      try Data(contentsOf: torn.appendingPathComponent("results.json"))
        == Data(contentsOf: whole.appendingPathComponent("results.json")))
  }

  @Test("a merge of 2 of 3 shards is incomplete and names the missing one; shards of other inputs are refused")
  func shards() throws {
    let dir = try CLITests.scratch("shards3")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plan = try Self.plan(in: dir)
    let sweep = ["sweep", plan.path] + Self.args
    let s = (0..<3).map { dir.appendingPathComponent("s\($0)") }
    for i in 0..<2 { _ = try CLI.run(sweep + ["--shard", "\(i)/3", "--report-dir", s[i].path]) }
    let merged = dir.appendingPathComponent("merged")
    let m = try CLI.run(["report", "--merge", s[0].path, s[1].path, "--report-dir", merged.path])
    #expect(m.status == 1, "\(m.stdout)\(m.stderr)")
    #expect(m.stdout.contains("incomplete: the merge lacks shard 2/3"), "\(m.stdout)")
    let results = try JSONSerialization.jsonObject(
      with: Data(contentsOf: merged.appendingPathComponent("results.json")))
    let object = try #require(results as? [String: Any])
    #expect(object["complete"] as? Bool == false)
    #expect((object["missingShards"] as? [[String: Int]])?.map { $0["index"] } == [2])

    // The third shard, run after the plan was edited: not the same sweep.
    try Self.edit(plan)
    _ = try CLI.run(sweep + ["--shard", "2/3", "--report-dir", s[2].path])
    let mixed = try CLI.run(
      ["report", "--merge"] + s.map(\.path) + ["--report-dir", dir.appendingPathComponent("mixed").path])
    #expect(mixed.status == 2, "\(mixed.stdout)\(mixed.stderr)")
    #expect(mixed.stderr.contains("did not sweep the same inputs: plan \(plan.path) was edited"), "\(mixed.stderr)")
  }
}
