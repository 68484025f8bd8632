import Foundation

/// A sweep's results, made one outcome at a time, in any order (the journal's): per plan, how
/// many ran, each signature's first scenario in space order with its evidence and how many share
/// it, coverage, and timings. Memory is bounded by the plans and distinct failures, not by the
/// space: each scenario's line goes to `lines` (sorted in bounded memory, streamed into
/// results.json), or, with `keepScenarios`, into the plans' `scenarios` (tests, small runs).
public struct SweepReportBuilder {
  private struct Tally {
    var ran = 0
    var prunedChildren = 0
    var groups: [String: (group: FailureGroup, first: ScenarioEntry)] = [:]
    var coverage: PointCoverage.Tally
    var times = RunTimings.Tally()
    var scenarios: [ScenarioEntry] = []
  }

  private let meta: SweepMeta
  private var planAt: [String: Int] = [:]
  private var tallies: [Tally]
  private let keepScenarios: Bool
  /// Every scenario's line, when they are not kept in the plans.
  public let lines: ScenarioLines

  /// - Parameters:
  ///   - catalogs: engine name → declared points, for coverage.
  ///   - spill: where `lines` may spill sorted runs (nil: in memory).
  ///   - keepScenarios: put every scenario in its plan's `scenarios` instead of `lines`.
  ///   - chunk: lines `lines` sorts in memory before it spills a run.
  public init(
    meta: SweepMeta, catalogs: [String: [FaultPoint]], spill: URL?, keepScenarios: Bool = false, chunk: Int = 32_768
  ) {
    self.meta = meta
    self.keepScenarios = keepScenarios
    lines = ScenarioLines(spill: spill, chunk: chunk)
    tallies = meta.plans.map { Tally(coverage: PointCoverage.Tally(catalog: catalogs[$0.engine] ?? [])) }
    for (i, p) in meta.plans.enumerated() where planAt[p.file] == nil { planAt[p.file] = i }
  }

  /// Counts one outcome (of a plan of the sweep; others are ignored).
  public mutating func add(_ o: SweepOutcome) throws {
    guard let k = planAt[o.scenario.plan] else { return }
    let e = o.entry
    tallies[k].ran += 1
    tallies[k].prunedChildren += o.pruned
    tallies[k].coverage.add(e)
    if let n = o.nanos { tallies[k].times.add(n, key: e.key) }
    if keepScenarios { tallies[k].scenarios.append(e) } else { try lines.add(plan: k, e) }
    guard o.failed, let sig = e.signature else { return }
    if var held = tallies[k].groups[sig] {
      held.group.count += 1
      if ScenarioEntry.spaceOrder(e, held.first) {
        // An earlier scenario of the signature: its evidence is the group's (the journal keeps the
        // earliest one's result whole).
        let count = held.group.count
        held = (Self.group(o, e, sig), e)
        held.group.count = count
      }
      tallies[k].groups[sig] = held
    } else {
      tallies[k].groups[sig] = (Self.group(o, e, sig), e)
    }
  }

  private static func group(_ o: SweepOutcome, _ e: ScenarioEntry, _ sig: String) -> FailureGroup {
    var g = FailureGroup(
      signature: sig, count: 1, first: e.key, placements: o.scenario.placements, kind: o.kind, result: o.result,
      detail: o.detail, scheduleSeed: o.scenario.scheduleSeed, explored: o.scenario.prefix != nil,
      unjudged: o.unjudged == true)
    g.reruns = o.reruns
    g.reproduced = o.reproduced
    g.rerunEnds = o.rerunEnds
    return g
  }

  /// The plans' results (with their coverage; `scenarios` empty and `streamed` set unless
  /// `keepScenarios`) and timings.
  public func finish() -> (plans: [PlanResults], timings: [RunTimings.PlanTimes]) {
    var plans: [PlanResults] = []
    var times: [RunTimings.PlanTimes] = []
    for (plan, t) in zip(meta.plans, tallies) {
      let failures = t.groups.values.sorted { ScenarioEntry.spaceOrder($0.first, $1.first) }.map(\.group)
      let scenarios = keepScenarios ? t.scenarios.sorted(by: ScenarioEntry.spaceOrder) : []
      var r = PlanResults(
        plan: plan.name, file: plan.file, engine: plan.engine, bugs: meta.bugs, depth: plan.depth, space: plan.space,
        pruned: plan.pruned, prunedChildren: t.prunedChildren, reached: plan.reached, scenarios: scenarios,
        failures: failures, coverage: t.coverage.rows(reached: plan.reached))
      if !keepScenarios { r.streamed = t.ran }
      plans.append(r)
      times.append(t.times.planTimes(plan.name))
    }
    return (plans, times)
  }
}
