/// The fault space of a plan and how a sweep judges a scenario. In a sweep any operation may fail
/// (that is what the faults are for), so a scenario fails on a violated invariant, a hang or the
/// step bound, not on the plan's expected outcomes. Op outcomes are still judged, in a way that
/// holds whatever faults are placed: every run checks each failed op's errno against its system
/// call and for a cause (`op-errors-explained`, `OpErrnos`). `SweepDriver` runs the sweep.
public struct Sweeper: Sendable {
  public let runner: ScenarioRunner
  public init(registry: EngineRegistry) { runner = ScenarioRunner(registry: registry) }

  /// The depth-1 space of `plan`: the fault-free run's hits, placed.
  public func space(_ plan: Plan, _ config: SweepConfig, bugs: [String] = []) throws -> (
    base: ScenarioResult, placements: [Placement], pruned: Int, reached: [PointHits]
  ) {
    guard let engine = runner.registry.descriptor(named: plan.engine) else {
      throw SetupError(message: "\(plan.file): unknown engine \(plan.engine)")
    }
    let (base, hits) = try runner.runRecordingHits(plan, RunOptions(bugs: bugs, faults: []))
    let placements = FaultSpace.placements(hits: hits, catalog: engine.catalog, config: config)
    return (base, placements, 0, PointHits.count(hits))
  }

  /// A sweep scenario fails on a violation, a hang or the step bound.
  public static func failed(_ r: ScenarioResult) -> Bool { !r.violations.isEmpty || r.stop != "quiescent" }

  /// A sweep scenario that found nothing but could not be judged everywhere (a snapshot that did
  /// not read, a placement that never fired): neither passed nor failed.
  public static func unjudged(_ r: ScenarioResult) -> Bool { !failed(r) && !r.judged }

  /// The scenario's result is kept (it failed or is unjudged): a passing one is a line.
  public static func keeps(_ r: ScenarioResult) -> Bool { failed(r) || !r.judged }

  /// What identifies a sweep failure: the violated invariants (with when: after a failed
  /// operation or at rest), the fault points and action kinds placed with the operations whose
  /// hits fired them, and how the run stopped. Hit numbers do not enter it, so the same failure
  /// reached through another hit of the same point is one failure.
  /// What could not be judged enters it as `unjudged:KIND` (a snapshot, a placement …).
  public static func signature(_ r: ScenarioResult, _ placements: [Placement]) -> String {
    let invariants =
      Set(r.violations.map { "\($0.invariant)@\($0.moment.hasPrefix("after") ? "op" : "rest")" }).sorted()
      + r.unjudgedKinds.map { "unjudged:\($0.rawValue)" }
    let faults = placements.map { p in
      let op = r.fired.first { $0.point == p.point && $0.hit == p.hit }?.op ?? "-"
      return "\(p.point):\(p.action.kind.rawValue):\(op)"
    }
    return (invariants + ["|"] + faults + ["|", r.stop]).joined(separator: " ")
  }
}

/// A plan's fault-free recording run, as a sweep's space is made from it: the placements its hits
/// allow, or what stopped it (the engine crashed or hung with no fault placed). A worker process
/// makes it and sends it back.
public enum Recording: Sendable, Codable, Hashable {
  case recorded(placements: [Placement], pruned: Int, reached: [PointHits])
  /// The recording run did not end: `kind` is crashed or timed-out, `cause` what ended the worker.
  case failed(kind: SweepOutcome.Kind, cause: String?, detail: String)
  /// The recording run crashed or hung once and not again in a fresh worker: the second run's
  /// space, and the first run's end, a flaky failure of the plan's fault-free scenario.
  case flaky(recorded: [Placement], reached: [PointHits], kind: SweepOutcome.Kind, cause: String?, detail: String)
}
