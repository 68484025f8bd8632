extension PlanResults {
  /// A plan as `faultline run` ran it: one scenario, or one per random schedule. A scenario fails
  /// when an invariant is violated, an operation ends other than the plan expects, or a fault it
  /// requires never fires; one that found nothing but could not be judged is unjudged.
  public static func ofRuns(
    _ plan: Plan, bugs: [String], runs: [(result: ScenarioResult, scheduleSeed: UInt64?)], reached: [Hit]
  )
    -> PlanResults
  {
    var scenarios: [ScenarioEntry] = []
    var failures: [FailureGroup] = []
    for (i, run) in runs.enumerated() {
      let r = run.result
      let key = "\(plan.file)|run\(run.scheduleSeed.map { "|s\($0)" } ?? "")"
      let sig = r.passed ? nil : r.signature
      scenarios.append(
        ScenarioEntry(
          key: key, index: i, child: -1, faults: r.faults, scheduleSeed: run.scheduleSeed, explored: nil,
          outcome: r.passed ? .passed : r.failed ? .failed : .unjudged, signature: sig, steps: r.steps,
          fired: r.fired.map { FiredFault(point: $0.point, hit: $0.hit, decision: $0.decision, op: $0.op) },
          errors: ScenarioEntry.errors(r.ops)))
      guard let sig else { continue }
      if let k = failures.firstIndex(where: { $0.signature == sig }) {
        failures[k].count += 1
      } else {
        failures.append(
          FailureGroup(
            signature: sig, count: 1, first: key, placements: [], result: r, scheduleSeed: run.scheduleSeed,
            unjudged: !r.failed))
      }
    }
    return PlanResults(
      plan: plan.name, file: plan.file, engine: plan.engine, bugs: bugs, depth: 0, space: runs.count, pruned: 0,
      prunedChildren: 0, reached: PointHits.count(reached), scenarios: scenarios, failures: failures)
  }
}
