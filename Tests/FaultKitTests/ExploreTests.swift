import Testing

@testable import FaultKit

/// `faultline explore`'s engine-free parts: the systematic order, guided mutation within bounds,
/// the corpus cover and the default coverage signal.
@Suite struct ExploreTests {
  static let profile = ExploreProfile(
    engine: "toy",
    setups: [
      .init(name: "s0", about: "", yaml: "files: [ { path: /a } ]\n"),
      .init(name: "s1", about: "", yaml: "files: [ { path: /a, size: 8KiB } ]\n"),
      .init(name: "s2", about: "", yaml: "files: [ { path: /a } ]\n"),
    ],
    templates: [
      .init("write", Operation(.write, path: "/a", offset: 0, length: 4096)),
      .init("fsync", Operation(.fsync, path: "/a")),
      .init("read", Operation(.read, path: "/a")),
      .init("unlink", Operation(.unlink, path: "/a")),
    ],
    alphabet: [0, 1, 3], maxOps: 4, maxTasks: 2)

  @Test func systematicCountsEveryTemplateThenEverySequenceUpToTheLengthOnceInOrder() {
    let g = WorkloadGenerator(profile: Self.profile, length: 2)
    // Length 1: all 4 templates x 3 setups; length 2: 9 sequences of the alphabet x 2 layouts
    // (one task, two) x 3 setups.
    #expect(g.systematicCount == 12 + 54)
    let all = (0..<g.systematicCount).map(g.systematic)
    #expect(Set(all).count == all.count)
    #expect(all.allSatisfy(Self.profile.admits))
    // Shorter first, the setup varying fastest, in template (then alphabet) order.
    #expect(all[0] == Workload(setup: 0, tasks: [[0]]))
    #expect(all[1] == Workload(setup: 1, tasks: [[0]]))
    #expect(all[3] == Workload(setup: 0, tasks: [[1]]))
    #expect(all[8] == Workload(setup: 2, tasks: [[2]]))
    #expect(all[11] == Workload(setup: 2, tasks: [[3]]))
    #expect(all[12] == Workload(setup: 0, tasks: [[0, 0]]))
    #expect(all[15] == Workload(setup: 0, tasks: [[0], [0]]))
    #expect(all.last == Workload(setup: 2, tasks: [[3], [3]]))
    // Every template alone from every setup, read (not in the alphabet) among them.
    let singles = all.filter { $0.opCount == 1 }
    #expect(Set(singles.map { $0.tasks[0][0] }) == [0, 1, 2, 3] && singles.count == 12)
    // Every pair of the alphabet, as one task and as two; longer sequences only of the alphabet.
    let pairs = Set(all.filter { $0.opCount == 2 }.map { $0.tasks.flatMap { $0 } })
    #expect(pairs.count == 9)
    #expect(
      all.filter { $0.opCount > 1 }.allSatisfy { $0.tasks.flatMap { $0 }.allSatisfy(Self.profile.alphabet.contains) })
  }

  @Test func guidedBatchesAreSeededWithinBoundsAndNew() {
    let g = WorkloadGenerator(profile: Self.profile, length: 1)
    let parents = [Workload(setup: 1, tasks: [[0, 1]]), Workload(setup: 0, tasks: [[2], [3]])]
    var madeA = Set(parents)
    var madeB = Set(parents)
    let a = g.guided(count: 40, seed: 7, batch: 3, parents: parents, made: &madeA)
    let b = g.guided(count: 40, seed: 7, batch: 3, parents: parents, made: &madeB)
    #expect(a == b)
    #expect(a.count == 40)
    #expect(a.allSatisfy(Self.profile.admits))
    #expect(a.allSatisfy { $0.opCount <= 4 && (1...2).contains($0.tasks.count) })
    #expect(Set(a).count == a.count)
    #expect(Set(a).isDisjoint(with: parents))
    #expect(madeA == Set(parents).union(a))
    var madeC = Set(parents)
    let c = g.guided(count: 40, seed: 8, batch: 3, parents: parents, made: &madeC)
    #expect(c != a)
    // Mutation reaches templates outside the alphabet (read is not in it) and two tasks.
    #expect(a.contains { $0.tasks.flatMap { $0 }.contains(2) })
    #expect(a.contains { $0.tasks.count == 2 })
  }

  @Test func guidedStopsWhenTheSpaceIsUsedUp() {
    let tiny = ExploreProfile(
      engine: "toy", setups: [Self.profile.setups[0]], templates: [Self.profile.templates[1]], alphabet: [0],
      maxOps: 1, maxTasks: 1)
    let g = WorkloadGenerator(profile: tiny, length: 1)
    var made: Set<Workload> = [g.systematic(0)]
    #expect(g.guided(count: 5, seed: 1, batch: 0, parents: [g.systematic(0)], made: &made).isEmpty)
  }

  @Test func corpusCoverIsGreedyCompleteAndBreaksTiesByOrder() {
    let picks = CorpusCover.choose([["a", "b"], ["c"], ["a", "b", "c"], ["d"], ["d"]])
    #expect(picks.map(\.candidate) == [2, 3])
    #expect(picks.map(\.adds) == [["a", "b", "c"], ["d"]])
    #expect(CorpusCover.choose([]).isEmpty)
    let spread = CorpusCover.choose([["a"], ["b"], ["a", "b"], ["c", "a"]])
    #expect(spread.map(\.candidate) == [2, 3])
    #expect(Set(spread.flatMap(\.adds)) == ["a", "b", "c"])
  }

  @Test func sweepCoverageTellsOperationsHitsEndingsAndSurfacedErrorsApart() {
    func entry(_ outcome: ScenarioEntry.Outcome, _ fired: [FiredFault], errors: [String]? = nil, sig: String? = nil)
      -> ScenarioEntry
    {
      ScenarioEntry(
        key: "k", index: 0, child: -1, faults: [], scheduleSeed: nil, explored: nil, outcome: outcome,
        signature: sig, steps: 1, fired: fired, errors: errors)
    }
    let plan = PlanResults(
      plan: "p", file: "p.yaml", engine: "toy", bugs: [], depth: 1, space: 4, pruned: 0, prunedChildren: 0,
      reached: [PointHits(point: "io.write", hits: 3), PointHits(point: "io.read", hits: 0)],
      scenarios: [
        entry(.passed, []),
        entry(
          .passed, [FiredFault(point: "io.write", hit: 1, decision: "fail: EIO", op: "fsync")],
          errors: ["t1/2 fsync: EIO"]),
        entry(.passed, [FiredFault(point: "io.write", hit: 5, decision: "fail: EIO", op: "fsync")]),
        entry(
          .failed, [FiredFault(point: "io.write", hit: 2, decision: "fail: EIO", op: "writeback")],
          sig: "locks-released@rest no-hang@rest | io.write:fail:writeback | hang"),
        entry(.passed, [FiredFault(point: "io.write", hit: 1, decision: "yield", op: "fsync")]),
      ], failures: [])
    let items = SweepCoverage().items(of: plan, runDirectory: "/nonexistent")
    #expect(
      items == [
        "reach io.write",
        "fire io.write#1:fail:EIO in fsync -> fsync:EIO; passed",
        "fire io.write#3+:fail:EIO in fsync -> passed",
        "fire io.write#2:fail:EIO in writeback -> locks-released@rest no-hang@rest",
      ])
  }

  @Test func surfacedErrorsAreTheOperationKindAndHowItEnded() {
    #expect(SweepCoverage.kindAndEnd("t1/2 fsync: EIO") == "fsync:EIO")
    #expect(SweepCoverage.kindAndEnd("t1/1 write { path: /a, offset: 0, length: 4KiB }: ENOSPC") == "write:ENOSPC")
    #expect(SweepCoverage.kindAndEnd("t2/3 dio-write: hung") == "dio-write:hung")
  }

  @Test func planOfAWorkloadNamesItsTasksAndSaysWhatItHolds() throws {
    let w = Workload(setup: 1, tasks: [[0, 1], [3]])
    let plan = try Self.profile.plan(w, name: "x", origin: "Made here")
    #expect(plan.tasks.map(\.name) == ["t1", "t2"])
    #expect(plan.tasks.map { $0.ops.map(\.kind) } == [[.write, .fsync], [.unlink]])
    #expect(plan.about == "Made here. setup s1; t1: write, fsync; t2: unlink.")
    #expect(!Self.profile.admits(Workload(setup: 3, tasks: [[0]])))
    #expect(!Self.profile.admits(Workload(setup: 0, tasks: [[0, 0, 0, 0, 0]])))
    #expect(!Self.profile.admits(Workload(setup: 0, tasks: [[0], [0], [0]])))
    #expect(!Self.profile.admits(Workload(setup: 0, tasks: [[]])))
    // A template of two operations counts two against the bound.
    let pairs = ExploreProfile(
      engine: "toy", setups: Self.profile.setups,
      templates: [.init("cold-read", ops: [Operation(.dropCaches, path: "/a"), Operation(.read, path: "/a")])],
      alphabet: [0], maxOps: 3)
    #expect(pairs.opCount(Workload(setup: 0, tasks: [[0], [0]])) == 4)
    #expect(!pairs.admits(Workload(setup: 0, tasks: [[0], [0]])))
    #expect(pairs.admits(Workload(setup: 0, tasks: [[0]])))
    #expect(
      try pairs.plan(Workload(setup: 0, tasks: [[0]]), name: "c", origin: "o").tasks[0].ops.map(\.kind) == [
        .dropCaches, .read,
      ])
  }
}
