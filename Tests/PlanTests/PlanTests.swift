import FaultKit
import FaultKitTesting
import FaultReports
import FaultlineEngines
import Foundation
import Testing

/// Every plan in Plans/ runs twice over: as written (must pass) and once per `catches` entry with
/// that bug switched on (must fail, with the named invariants among the violations). This is the
/// oracle tested against known bugs, on every commit.
enum Corpus {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let registry = FaultlineEngines.registry
  static let files: [String] = (try? PlanLoader.planFiles(in: [root.appendingPathComponent("Plans").path])) ?? []

  static func load(_ file: String) throws -> Plan {
    try PlanLoader(registry: registry).load(file: file)
  }

  /// (plan file, bug) for every `catches` entry of every plan.
  static var catches: [CatchCase] {
    files.flatMap { f in
      ((try? load(f))?.catches ?? []).map { CatchCase(file: f, bug: $0.bug, invariants: $0.invariants) }
    }
  }

  static func short(_ file: String) -> String {
    file.hasPrefix(root.path) ? String(file.dropFirst(root.path.count + 1)) : file
  }
}

struct CatchCase: Sendable, CustomTestStringConvertible {
  let file: String
  let bug: String
  let invariants: [InvariantName]
  var testDescription: String { "\(Corpus.short(file)) --bug \(bug)" }
}

@Suite("Plans")
struct PlanTests {
  @Test("the corpus is there")
  func corpusFound() throws {
    #expect(Corpus.files.count >= 3, "found \(Corpus.files) under \(Corpus.root.path)")
    #expect(Corpus.files.contains { $0.hasSuffix("btrfs/cow-enospc-second-iteration.yaml") })
  }

  /// Every plan as written (must pass) and with each bug it catches (must fail with the named
  /// invariants), through FaultKitTesting as a user's package runs its plans.
  static let plans = FaultPlans(registry: Corpus.registry)

  @Test(
    "plan as written passes; with each bug it catches, it fails with the named invariants",
    arguments: plans.cases(in: "Plans"))
  func plan(_ c: FaultPlanCase) {
    Self.plans.check(c)
  }

  @Test("FaultKitTesting fails a plan with the invariant, the fault and the diff; a missing path is a failing case")
  func helperFails() throws {
    let cases = Self.plans.cases(in: "Tests/Fixtures/hostile.yaml")
    #expect(cases.count == 1)
    let hostile = try #require(cases.first)
    let message = try #require(Self.plans.failures(hostile).first)
    #expect(message.hasPrefix("delalloc-backed, locks-released, no-hang after alloc.data#2 fail: ENOSPC in <script>"))
    #expect(message.contains("diff at rest (baseline -> now):"))
    #expect(message.contains("pages /<b>&amp;#1-3 locked: unlocked -> locked"))
    let missing = Self.plans.cases(in: "Plans/no-such-dir")
    #expect(missing.count == 1)
    let gone = try #require(missing.first)
    #expect(!Self.plans.failures(gone).isEmpty)
    #expect(Self.plans.cases(in: "Plans").count == Corpus.files.count + Corpus.catches.count)
  }

  @Test("every plan's run takes steps and comes to rest")
  func plansComeToRest() throws {
    for file in Corpus.files {
      let plan = try Corpus.load(file)
      let r = try ScenarioRunner(registry: Corpus.registry).run(plan)
      // A plan that expects errors (a generated one whose only operation the engine refuses
      // before any scheduling point) may take none.
      #expect(r.stop == "quiescent" && (r.steps > 0 || !plan.expect.ops.isEmpty), "\(file)")
    }
  }

  @Test("same plan and seed give byte-identical JSON")
  func deterministicJSON() throws {
    for file in Corpus.files {
      // A linux plan that counts the kernel's allocations (`fail-nth: true`) or the disk's bios
      // (`make-it-fail: true`): how many an operation makes follows the kernel's timing (a
      // journal commit that ran or not), so its trace differs under load. What it does with a
      // fault is checked by the sweep instead.
      let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
      if text.contains("fail-nth: true") || text.contains("make-it-fail: true") { continue }
      let plan = try Corpus.load(file)
      let runner = ScenarioRunner(registry: Corpus.registry)
      for bug in [nil] + plan.catches.map(\.bug) {
        let opts = RunOptions(bugs: bug.map { [$0] } ?? [], seed: 42)
        let a = try JSONReport.encode([runner.run(plan, opts)])
        let b = try JSONReport.encode([runner.run(plan, opts)])
        #expect(a == b, "\(file) \(bug ?? "fixed")")
      }
    }
  }

  @Test(
    "a multi-task plan gives byte-identical results 100 times with the same seed",
    arguments: ["two-writers-eio.yaml", "fixup-migration-window.yaml", "overwrite-during-writeback.yaml"])
  func multiTaskRepeatable(name: String) throws {
    let file = try #require(Corpus.files.first { $0.hasSuffix(name) })
    let plan = try Corpus.load(file)
    let runner = ScenarioRunner(registry: Corpus.registry)
    let options = RunOptions(seed: 1234, schedule: .random(seed: 1234))
    let first = try JSONReport.encode([runner.run(plan, options)])
    for _ in 0..<99 {
      #expect(try JSONReport.encode([runner.run(plan, options)]) == first)
    }
  }

  @Test("random schedules really interleave, and replaying the choices reproduces the trace")
  func scheduleReplay() throws {
    let file = try #require(Corpus.files.first { $0.hasSuffix("two-writers-eio.yaml") })
    let plan = try Corpus.load(file)
    let runner = ScenarioRunner(registry: Corpus.registry)
    var traces = Set<[String]>()
    for seed in UInt64(1)...8 {
      let r = try runner.run(plan, RunOptions(seed: seed, schedule: .random(seed: seed)))
      #expect(r.passed, "seed \(seed): \(TextReport.render(r))")
      traces.insert(r.trace)
      let replay = try runner.run(plan, RunOptions(seed: seed, schedule: .replay(r.choices)))
      #expect(replay.trace == r.trace, "seed \(seed): replay diverged")
    }
    #expect(traces.count > 1, "eight random schedules all gave the same trace")
  }

  @Test("the seed-000 bug is caught with the wait-for graph of the hang")
  func seed000WaitForGraph() throws {
    let file = try #require(Corpus.files.first { $0.hasSuffix("cow-enospc-second-iteration.yaml") })
    let plan = try Corpus.load(file)
    let r = try ScenarioRunner(registry: Corpus.registry).run(plan, RunOptions(bugs: ["cow-error-leaves-pages-locked"]))
    #expect(r.stop == "hang")
    let hang = try #require(r.violations.first { $0.invariant == .noHang })
    #expect(hang.evidence.contains { $0.contains("writer (in fsync #3) waits on page /a#1") })
    #expect(hang.evidence.contains { $0.contains("page /a#1 is held by writer in writeback #2") })
    let leak = try #require(r.violations.first { $0.invariant == .locksReleased && $0.moment.hasPrefix("after") })
    #expect(leak.evidence.contains("page /a#2 locked: unlocked -> locked (holder: writer in writeback #2)"))
    #expect(r.ops.map(\.outcome.status) == [.ok, .error, .hung, .notRun])
    #expect(r.ops[1].outcome.injected == HitRef(point: "alloc.data", hit: 2))
  }

  @Test("a scenario that passes its step bound stops, says so, and is judged")
  func stepBound() throws {
    let file = try #require(Corpus.files.first { $0.hasSuffix("write-fsync.yaml") })
    var plan = try Corpus.load(file)
    plan.limits.steps = 20
    let r = try ScenarioRunner(registry: Corpus.registry).run(plan)
    #expect(r.stop == "step-bound")
    #expect(!r.passed)
    let v = try #require(r.violations.first { $0.invariant == .noHang })
    #expect(v.message.contains("step bound (20 schedule points)"))
    // The last word before the oracles' (which come after the run) is the step bound's.
    #expect(
      r.trace.last { !$0.hasPrefix("oracle:") }?.contains("step bound 20 reached") == true, "\(r.trace.suffix(4))")
    #expect(r.ops.contains { $0.outcome.status == .stopped })
  }

  @Test("the diff from the fault-free run shows what the fault changed, and only that")
  func faultFreeDiff() throws {
    let file = try #require(Corpus.files.first { $0.hasSuffix("write-enospc-at-reserve.yaml") })
    let plan = try Corpus.load(file)
    let runner = ScenarioRunner(registry: Corpus.registry)
    let reference = try runner.faultFreeSnapshot(plan)
    let r = try runner.run(plan, RunOptions(faultFree: reference))
    let ff = try #require(r.diffFromFaultFree)
    // Without the fault the second 16KiB write lands: the file is one 32KiB extent.
    #expect(ff.contains("file /a size: 32KiB -> 16KiB"))
    #expect(ff.contains("- tree /a [0, 32KiB) -> blocks 16-23 (written)"))
    #expect(ff.contains("+ tree /a [0, 16KiB) -> blocks 16-19 (written)"))
    // A fault-free plan diffed against itself shows nothing.
    let clean = try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix("write-fsync.yaml") }))
    let same = try runner.run(clean, RunOptions(faultFree: try runner.faultFreeSnapshot(clean)))
    #expect(same.diffFromFaultFree == [])
  }
}
