import FaultKit
import Foundation
import Testing

@testable import faultline

/// Nightlies that tell the truth: a failure is fixed only when the scenario that found it ran and
/// passed; expected findings are not new; a budgeted nightly sweeps the whole space over
/// successive nights; a misspelt known entry is said, where it is written.
@Suite("nightly comparisons and rotation", .serialized)
struct NightlyTests {
  static let cow = "Plans/btrfs/cow-enospc-second-iteration.yaml"

  static func sweep(_ args: [String], into dir: URL) throws -> CLI.Output {
    try CLI.run(["sweep"] + args + ["--quiet", "--in-process", "--report-dir", dir.path])
  }

  @Test("a failure whose scenario did not run tonight is not fixed; when it runs and passes, it is")
  func fixedOnlyWhenReached() throws {
    let buggy = try CLITests.scratch("nightly-buggy")
    let partial = try CLITests.scratch("nightly-partial")
    let whole = try CLITests.scratch("nightly-whole")
    defer { for d in [buggy, partial, whole] { try? FileManager.default.removeItem(at: d) } }
    _ = try Self.sweep([Self.cow, "--depth", "1", "--bug", "cow-error-leaves-pages-locked"], into: buggy)
    // The fixed engine, but only the reserve points: the plan ran, the alloc.data#2 scenario
    // that found the bug did not.
    _ = try Self.sweep([Self.cow, "--depth", "1", "--points", "reserve.*"], into: partial)
    let notReached = try CLI.run(["report", partial.path, "--compare", buggy.path])
    #expect(notReached.status == 0, "\(notReached.stdout)\(notReached.stderr)")
    #expect(notReached.stdout.contains("fixed: 0\n"), "\(notReached.stdout)")
    #expect(notReached.stdout.contains("not rechecked (none of the scenarios that showed it passed in this run): 1\n"))
    _ = try Self.sweep([Self.cow, "--depth", "1"], into: whole)
    let reached = try CLI.run(["report", whole.path, "--compare", buggy.path])
    #expect(reached.stdout.contains("fixed: 1\n  cow-enospc-second-iteration: "), "\(reached.stdout)")
  }

  @Test("a finding the engine calls expected behaviour is not new; exit 0")
  func expectedIsNotNew() throws {
    let buggy = try CLITests.scratch("nightly-expected")
    let clean = try CLITests.scratch("nightly-clean")
    defer { for d in [buggy, clean] { try? FileManager.default.removeItem(at: d) } }
    _ = try Self.sweep([Self.cow, "--depth", "1", "--bug", "cow-error-leaves-pages-locked"], into: buggy)
    _ = try Self.sweep([Self.cow, "--depth", "1"], into: clean)
    // As an engine that declares these invariants expected would have marked it.
    let file = buggy.appendingPathComponent("results.json")
    var results = try RunResults.read(file)
    for i in results.plans[0].failures.indices { results.plans[0].failures[i].expected = true }
    try results.encoded().write(to: file)
    let r = try CLI.run(["report", buggy.path, "--compare", clean.path])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("new: 0\n"), "\(r.stdout)")
    #expect(r.stdout.contains("expected behaviour of the engine (not bugs): 1\n"))
  }

  @Test("a misspelt plan in --known is an error at file:line:column, exit 2, nothing written")
  func misspeltKnown() throws {
    let dir = try CLITests.scratch("nightly-known")
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try Self.sweep([Self.cow, "--depth", "1", "--bug", "cow-error-leaves-pages-locked"], into: dir)
    let sig = try #require(RunResults.read(dir.appendingPathComponent("results.json")).plans[0].failures.first)
      .signature
    let known = dir.appendingPathComponent("known.yaml")
    try """
    known:
      - { plan: cow-enospc-second-iteration, signature: "\(sig)", why: listed right }
      - plan: cow-enospc-second-iteraton
        signature: "\(sig)"
        why: misspelt
      - { plan: some-other-plan, signature: "x", why: a plan of another run }

    """.write(to: known, atomically: true, encoding: .utf8)
    try? FileManager.default.removeItem(at: dir.appendingPathComponent("report.html"))
    let r = try CLI.run(["report", dir.path, "--html", "--known", known.path])
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(
      r.stderr.contains(
        "\(known.path):3:11: error: known[1].plan: expected the name of a plan of this run, found 'cow-enospc-second-iteraton'; did you mean 'cow-enospc-second-iteration'?"
      ), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))
    // Without the typo: the listed one is expected, the other plan's entry is warned about, located.
    let fixedText = try String(contentsOf: known, encoding: .utf8).replacingOccurrences(
      of: "iteraton", with: "iteration")
    try fixedText.write(to: known, atomically: true, encoding: .utf8)
    let ok = try CLI.run(["report", dir.path, "--known", known.path])
    #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
    #expect(ok.stdout.contains("new: 0\n") && ok.stdout.contains("still failing: 1\n"))
    #expect(
      ok.stderr.contains(
        "\(known.path):6:13: warning: known[2].plan: 'some-other-plan' is not a plan of this run"), "\(ok.stderr)")
  }

  @Test("the findings ledger carries a finding across nights that did not reach it: not new when it shows again")
  func ledgerAcrossNights() throws {
    let night1 = try CLITests.scratch("nightly-n1")
    let night2 = try CLITests.scratch("nightly-n2")
    let night3 = try CLITests.scratch("nightly-n3")
    let ledger = try CLITests.scratch("nightly-ledger").appendingPathComponent("findings.json")
    defer {
      for d in [night1, night2, night3, ledger.deletingLastPathComponent()] {
        try? FileManager.default.removeItem(at: d)
      }
    }
    let bug = ["--bug", "cow-error-leaves-pages-locked", "--depth", "1"]
    _ = try Self.sweep([Self.cow, "--points", "alloc.*"] + bug, into: night1)
    _ = try Self.sweep([Self.cow, "--points", "reserve.*"] + bug, into: night2)
    _ = try Self.sweep([Self.cow, "--points", "alloc.*"] + bug, into: night3)
    let first = try CLI.run(["report", night1.path, "--findings", ledger.path])
    #expect(first.status == 1 && first.stdout.contains("new: 1\n"), "\(first.stdout)\(first.stderr)")
    // The same night again: the same answer (the ledger remembers what it held before it).
    let again = try CLI.run(["report", night1.path, "--findings", ledger.path])
    #expect(again.status == 1 && again.stdout.contains("new: 1\n"), "\(again.stdout)")
    let second = try CLI.run(["report", night2.path, "--findings", ledger.path])
    #expect(second.stdout.contains("new: 0\n") && second.stdout.contains("fixed: 0\n"), "\(second.stdout)")
    #expect(second.stdout.contains("not rechecked (none of the scenarios that showed it passed in this run): 1\n"))
    // Night 3 reaches it again: still failing, not new (against night 2 alone it would be new).
    let third = try CLI.run(["report", night3.path, "--findings", ledger.path])
    #expect(third.status == 0 && third.stdout.contains("new: 0\n"), "\(third.stdout)")
    #expect(third.stdout.contains("still failing: 1\n"))
    let vsLast = try CLI.run(["report", night3.path, "--compare", night2.path])
    #expect(vsLast.stdout.contains("new: 1\n"))
  }

  // MARK: Rotation

  static func space(_ plans: [(String, Int)]) -> [[SweepScenario]] {
    var index = 0
    return plans.map { plan, n in
      (0..<n).map { k in
        defer { index += 1 }
        return SweepScenario(
          plan: plan, bugs: [],
          placements: k == 0 ? [] : [Placement(point: "alloc.data", hit: k, action: .fail(.noSpace), mode: .transient)],
          index: index)
      }
    }
  }

  @Test("units are dealt round-robin across plans, and each night starts where the last stopped, over the whole space")
  func rotationCoversTheSpace() throws {
    let dir = try CLITests.scratch("nightly-rotation")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("rotation.json").path
    let space = Self.space([("a.yaml", 6), ("b.yaml", 3), ("c.yaml", 4)])
    let all = space.flatMap { $0 }
    var swept = Set<Int>()
    var firsts: [Int] = []
    for night in 0..<4 {
      let r = try SweepRotation(path: path, space: space, planNames: ["a", "b", "c"], shard: .all)
      let order = r.arrange(all)
      if night == 0 {
        // Round-robin: the first three units are one of each plan.
        #expect(Set(order.prefix(3).map(\.plan)) == ["a.yaml", "b.yaml", "c.yaml"])
      }
      firsts.append(order[0].index)
      // A night's budget finishes 4 units and starts a 5th.
      var t = SweepRotation.Tracker(order)
      for sc in order.prefix(4) { t.finished(sc, more: 0, started: true) }
      t.finished(order[4], more: 3, started: false)
      swept.formUnion(order.prefix(4).map(\.index))
      let (state, _) = r.next(t)
      try SweepRotation.write(state, to: path)
      #expect(state.nights == night + 1)
    }
    // 13 units, 4 a night: every one after 4 nights, each night starting at the unit after the last.
    #expect(swept == Set(all.map(\.index)))
    let state = try JSONDecoder().decode(
      SweepRotation.State.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(state.cycles == 1 && state.covered == 3)
    let r = try SweepRotation(path: path, space: space, planNames: ["a", "b", "c"], shard: .all)
    #expect(firsts.count == 4 && Set(firsts).count == 4)
    // Deterministic given the state: the same file lays out the same order.
    let again = try SweepRotation(path: path, space: space, planNames: ["a", "b", "c"], shard: .all)
    #expect(r.arrange(all).map(\.key) == again.arrange(all).map(\.key))
    // A plan added in front moves every index; the next unit is found again by its identity.
    let grown = Self.space([("z.yaml", 2), ("a.yaml", 6), ("b.yaml", 3), ("c.yaml", 4)])
    let moved = try SweepRotation(path: path, space: grown, planNames: ["z", "a", "b", "c"], shard: .all)
    let next = r.arrange(all)[0]
    #expect(SweepRotation.name(moved.arrange(grown.flatMap { $0 })[0]) == SweepRotation.name(next))
  }

  @Test("a unit larger than a night's budget does not stop the rotation")
  func rotationMovesPastAGiantUnit() throws {
    let dir = try CLITests.scratch("nightly-giant")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("rotation.json").path
    let space = Self.space([("a.yaml", 3)])
    let r = try SweepRotation(path: path, space: space, planNames: ["a"], shard: .all)
    var t = SweepRotation.Tracker(space[0])
    t.finished(space[0][0], more: 500, started: true)
    let (state, lines) = r.next(t)
    #expect(state.position == 1 && lines.contains { $0.contains("moves past it") })
    // A night that ran nothing (the budget went on computing the space) moves nothing.
    let (idle, _) = r.next(SweepRotation.Tracker(space[0]))
    #expect(idle.position == 0 && idle.covered == 0 && idle.nights == 1)
  }

  /// The nights are bounded by a scenario count, not seconds: a time budget on a loaded machine
  /// may run out before the first unit ends (and then the rotation rightly does not move).
  @Test("sweep --rotation with a budget: state written, the next night starts at the unit it names, --resume refused")
  func rotationCLI() throws {
    let n1 = try CLITests.scratch("nightly-rot1")
    let n2 = try CLITests.scratch("nightly-rot2")
    let state = try CLITests.scratch("nightly-rot-state").appendingPathComponent("rotation.json")
    defer { for d in [n1, n2, state.deletingLastPathComponent()] { try? FileManager.default.removeItem(at: d) } }
    let plans = [Self.cow, "Plans/btrfs/fixup-enospc.yaml"]
    let args = plans + ["--depth", "2", "--jobs", "1", "--max-scenarios", "40", "--rotation", state.path]
    let first = try Self.sweep(args, into: n1)
    #expect(first.stdout.contains("rotation: "), "\(first.stdout)\(first.stderr)")
    let s1 = try JSONDecoder().decode(SweepRotation.State.self, from: Data(contentsOf: state))
    #expect(s1.nights == 1 && s1.position > 0)
    _ = try Self.sweep(args, into: n2)
    // The journal is in run order: tonight's first scenario is the unit the state named.
    let line = try #require(
      try String(contentsOf: n2.appendingPathComponent("journal.jsonl"), encoding: .utf8).split(separator: "\n").first)
    let o = try JSONDecoder().decode(SweepOutcome.self, from: Data(line.utf8))
    #expect(SweepRotation.name(o.scenario) == s1.unit)
    let both = try CLI.run(["sweep"] + args + ["--resume", n1.path])
    #expect(both.status == 2 && both.stderr.contains("--rotation with --resume"))
  }
}

extension NightlyTests {
  @Test("scripts/nightly-sweep: two budgeted nights, the second starting where the first stopped, the ledger kept")
  func nightlyScript() throws {
    let root = try CLITests.scratch("nightly-script")
    defer { try? FileManager.default.removeItem(at: root) }
    let env = [
      "FAULTLINE_CLI_BINARY": try CLI.binary.path, "FAULTLINE_NIGHTLY_REPORTS": root.path,
      "FAULTLINE_NIGHTLY_PLANS": "\(Self.cow) Plans/btrfs/fixup-enospc.yaml", "FAULTLINE_JOBS": "1",
      "FAULTLINE_NIGHTLY_SCENARIOS": "40",
    ]
    let script = CLI.root.appendingPathComponent("scripts/nightly-sweep")
    let first = try CLI.spawn(script, ["600"], environment: env, directory: CLI.root)
    #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
    #expect(first.stdout.contains("rotation: ") && first.stdout.contains("new: 0\n"), "\(first.stdout)")
    let state = root.appendingPathComponent("nightly/rotation.json")
    let s1 = try JSONDecoder().decode(SweepRotation.State.self, from: Data(contentsOf: state))
    let second = try CLI.spawn(script, ["600"], environment: env, directory: CLI.root)
    #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
    let s2 = try JSONDecoder().decode(SweepRotation.State.self, from: Data(contentsOf: state))
    #expect(s1.nights == 1 && s2.nights == 2)
    #expect(second.stdout.contains("from unit \(s1.position + 1) "), "\(second.stdout)")
    #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("nightly/findings.json").path))
  }
}

extension NightlyTests {
  @Test("a rotation state or findings ledger that is not one, or a rotation of another shard: exit 2, saying which")
  func badStateFiles() throws {
    let dir = try CLITests.scratch("nightly-bad-state")
    defer { try? FileManager.default.removeItem(at: dir) }
    let junk = dir.appendingPathComponent("junk.json")
    try Data("{\"schema\": \"something-else\"}\n".utf8).write(to: junk)
    let run = dir.appendingPathComponent("run")
    let sweep = try CLI.run([
      "sweep", Self.cow, "--depth", "1", "--in-process", "--quiet", "--rotation", junk.path, "--report-dir", run.path,
    ])
    #expect(sweep.status == 2 && sweep.stderr.contains("--rotation \(junk.path): not a rotation state"))
    let state = dir.appendingPathComponent("rotation.json")
    _ = try CLI.run([
      "sweep", Self.cow, "--depth", "1", "--in-process", "--quiet", "--rotation", state.path, "--shard", "0/2",
      "--report-dir", run.path,
    ])
    let other = try CLI.run([
      "sweep", Self.cow, "--depth", "1", "--in-process", "--quiet", "--rotation", state.path, "--shard", "1/2",
      "--report-dir", run.path,
    ])
    #expect(
      other.status == 2 && other.stderr.contains("it rotates shard 0/2, this sweep is shard 1/2"), "\(other.stderr)")
    // Refused before the report directory was touched: the earlier run's results are still there.
    #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("results.json").path))
    let report = try CLI.run(["report", run.path, "--findings", junk.path])
    #expect(report.status == 2 && report.stderr.contains("--findings \(junk.path): not a findings ledger"))
    let both = try CLI.run(["run", Self.cow, "--schedules", "2", "--schedule-seed", "7"])
    #expect(both.status == 2 && both.stderr.contains("--schedules with --schedule-seed"))
  }
}
