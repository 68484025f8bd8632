import FaultKit
import FaultlineEngines
import Foundation
import Testing

@Suite("Plan writer and sweeps")
struct SweepTests {
  @Test("every plan written as YAML reads back as the same plan", arguments: Corpus.files)
  func roundTrip(file: String) throws {
    let plan = try Corpus.load(file)
    let text = PlanWriter.yaml(plan)
    let back = try PlanLoader(registry: Corpus.registry).parse(text, file: "repro.yaml")
    #expect(back.name == plan.name)
    #expect(back.engine == plan.engine)
    #expect(back.about == plan.about)
    #expect(back.seed == plan.seed && back.bugs == plan.bugs)
    #expect(back.tasks.map(\.name) == plan.tasks.map(\.name))
    let strip = { (ops: [FaultKit.Operation]) in
      ops.map {
        var o = $0
        o.location = nil
        return o
      }
    }
    #expect(back.tasks.map { strip($0.ops) } == plan.tasks.map { strip($0.ops) })
    #expect(back.faults == plan.faults)
    #expect(back.schedule == plan.schedule)
    #expect(back.preemptions == plan.preemptions)
    #expect(back.limits == plan.limits)
    #expect(back.expect.invariants == plan.expect.invariants)
    #expect(PlanWriter.yaml(back) == text, "writing is a fixed point")
  }

  @Test("the depth-1 space places every declared action and errno at every hit, both modes")
  func space() throws {
    let plan = try Corpus.load(
      try #require(Corpus.files.first { $0.hasSuffix("btrfs/cow-enospc-second-iteration.yaml") }))
    let (_, placements, _, reached) = try Sweeper(registry: Corpus.registry).space(
      plan, SweepConfig(points: ["alloc.*"]))
    #expect(reached.first { $0.point == "alloc.data" }?.hits == 4)
    // Four alloc.data hits in the fault-free run; fail ENOSPC and short; transient and persistent.
    #expect(placements.count == 4 * 2 * 2)
    #expect(Set(placements.map(\.hit)) == [1, 2, 3, 4])
    #expect(placements.allSatisfy { $0.point == "alloc.data" })
  }

  @Test("a sweep with a historical bug on finds its signature; the repro replays it")
  func sweepFindsBug() throws {
    let plan = try Corpus.load(
      try #require(Corpus.files.first { $0.hasSuffix("btrfs/cow-enospc-second-iteration.yaml") }))
    let sweeper = Sweeper(registry: Corpus.registry)
    let report = try #require(
      try SweepDriver(registry: Corpus.registry).sweepInProcess(
        [plan], configs: [SweepConfig(points: ["alloc.*"])], bugs: ["cow-error-leaves-pages-locked"]
      ).first)
    #expect(report.ran == 1 + 4 * 2 * 2)
    let hang = try #require(report.failures.first { $0.signature.contains("no-hang@rest") })
    #expect(hang.signature.contains("locks-released@op"))
    // The repro: the plan with the failure's faults, written and read back, fails the same way.
    var repro = plan
    repro.faults = hang.placements.map(\.spec)
    repro.bugs = ["cow-error-leaves-pages-locked"]
    let back = try PlanLoader(registry: Corpus.registry).parse(PlanWriter.yaml(repro), file: "repro.yaml")
    let again = try sweeper.runner.run(back)
    #expect(Sweeper.signature(again, hang.placements) == hang.signature)
  }

  @Test("a sweep with a historical bug on finds that bug's invariants", arguments: Corpus.catches)
  func sweepFindsEachBug(c: CatchCase) throws {
    let plan = try Corpus.load(c.file)
    let report = try #require(
      try SweepDriver(registry: Corpus.registry).sweepInProcess(
        [plan], configs: [SweepConfig(plan: plan)], bugs: [c.bug]
      )
      .first)
    let found = report.failures.contains { f in c.invariants.allSatisfy { f.signature.contains("\($0)@") } }
    #expect(found, "\(c.bug): \(report.failures.map(\.signature))")
  }

  @Test("shrinking keeps the signature and drops what the failure does not need")
  func shrink() throws {
    let plan = try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix("btrfs/write-fsync.yaml") }))
    let bugs = ["cow-error-leaves-pages-locked"]
    let fault = Placement(point: "alloc.data", hit: 2, action: .fail(.noSpace), mode: .transient)
    let r = try ScenarioRunner(registry: Corpus.registry).run(plan, RunOptions(bugs: bugs, faults: [fault.spec]))
    let sig = Sweeper.signature(r, [fault])
    #expect(Sweeper.failed(r))
    let shrunk = Shrinker(registry: Corpus.registry).shrink(plan, placements: [fault], bugs: bugs, signature: sig)
    #expect(shrunk.plan.tasks.flatMap(\.ops).map(\.kind) == [.write, .fsync])
    #expect(shrunk.placements == [fault])
    let again = try ScenarioRunner(registry: Corpus.registry).run(
      shrunk.plan, RunOptions(bugs: bugs, faults: [fault.spec]))
    #expect(Sweeper.signature(again, [fault]) == sig)
  }

  @Test("a sweep crossed with random schedules writes repros that replay their failure")
  func scheduledRepros() throws {
    let plan = try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix("btrfs/fixup-migration-window.yaml") }))
    let bugs = ["fixup-page-cleaned-before-worker"]
    let driver = SweepDriver(registry: Corpus.registry)
    let config = SweepConfig(points: ["worker.*", "reserve.data"])
    let space = try driver.space([plan], configs: [config], bugs: bugs, schedules: 3).scenarios.flatMap { $0 }
    #expect(space.count % 3 == 0 && space.allSatisfy { $0.scheduleSeed != nil })
    #expect(space == (try driver.space([plan], configs: [config], bugs: bugs, schedules: 3).scenarios.flatMap { $0 }))
    var outcomes: [SweepOutcome] = []
    try InProcessExecutor(registry: Corpus.registry).run(space) {
      outcomes.append($0)
      return []
    }
    let meta = SweepMeta(
      plans: [SweepMeta.PlanEntry(file: plan.file, name: plan.name, engine: plan.engine, depth: 1, space: space.count)],
      bugs: bugs, shard: .all)
    let report = try #require(SweepDriver.reports(meta: meta, outcomes: outcomes).first)
    #expect(!report.failures.isEmpty)
    for (i, f) in report.failures.enumerated() {
      let made = SweepRepro.make(plan, f, number: i + 1, bugs: bugs, registry: Corpus.registry)
      let text = PlanWriter.yaml(made.plan)
      let back = try PlanLoader(registry: Corpus.registry).parse(text, file: "repro.yaml")
      let r = try ScenarioRunner(registry: Corpus.registry).run(back)
      let placements = back.faults.map { spec -> Placement in
        guard case .nth(let n) = spec.trigger else { fatalError("sweep faults are nth") }
        return Placement(point: spec.point, hit: n, action: spec.action, mode: spec.mode)
      }
      #expect(Sweeper.signature(r, placements) == f.signature, "repro \(i + 1):\n\(text)")
    }
  }

  @Test("the journal keeps one whole result per signature, the first in space order, in any finishing order")
  func firstResults() throws {
    // Real libext2fs: 14 signatures among 61 failures.
    let plan = try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix("ext2fs/names-and-links.yaml") }))
    let driver = SweepDriver(registry: Corpus.registry)
    let bugs: [String] = []
    let config = SweepConfig(points: ["*"])
    let (space, pruned, reached, _) = try driver.space([plan], configs: [config], bugs: bugs)
    let meta = SweepMeta(
      plans: [
        SweepMeta.PlanEntry(
          file: plan.file, name: plan.name, engine: plan.engine, depth: config.depth, space: space[0].count,
          pruned: pruned[0], reached: reached[0])
      ], bugs: bugs, shard: .all)
    var outcomes: [SweepOutcome] = []
    try InProcessExecutor(registry: Corpus.registry).run(space[0]) { o in
      outcomes.append(o)
      return driver.children(of: o)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let whole = try encoder.encode(SweepDriver.reports(meta: meta, outcomes: outcomes))
    let signatures = Set(outcomes.filter(\.failed).map(\.signature))
    #expect(signatures.count >= 2 && outcomes.filter(\.failed).count > signatures.count, "repeated signatures")

    var rng = SplitMix64(seed: 7)
    let orders = [outcomes, outcomes.reversed(), outcomes.shuffled(using: &rng)]
    for order in orders {
      var first = FirstResults()
      let kept = order.map { first.keep($0) }
      #expect(kept.filter(\.failed).count == outcomes.filter(\.failed).count, "a slimmed failure is still a failure")
      #expect(try encoder.encode(SweepDriver.reports(meta: meta, outcomes: kept)) == whole)
      // Resumed halfway: what the journal held decides for what comes after.
      let half = kept.count / 2
      var resumed = FirstResults(Array(kept[..<half]))
      let rest = order[half...].map { resumed.keep($0) }
      #expect(try encoder.encode(SweepDriver.reports(meta: meta, outcomes: Array(kept[..<half]) + rest)) == whole)
    }
    // In space order exactly one result per signature is kept, and a slim outcome round-trips.
    var first = FirstResults()
    let kept = outcomes.map { first.keep($0) }
    #expect(kept.filter { $0.result != nil }.count == signatures.count)
    let slim = try #require(kept.first { $0.failed && $0.result == nil })
    let back = try JSONDecoder().decode(SweepOutcome.self, from: try encoder.encode(slim))
    #expect(back.failed && back.signature == slim.signature && back.entry == slim.entry)
  }
}
