/// A distinct failure a sweep found: its signature, how many scenarios showed it, and the first
/// of them (in space order), which is what a repro replays.
public struct SweepFailure: Sendable, Codable {
  public let signature: String
  public var count: Int
  public let placements: [Placement]
  /// judged, crashed or timed-out.
  public let kind: SweepOutcome.Kind
  /// The first scenario's result (nil when its worker crashed or timed out).
  public let result: ScenarioResult?
  public let detail: String?
  /// The random schedule it ran under, when the sweep crossed placements with schedules.
  public let scheduleSeed: UInt64?
  /// It ran under an explored schedule (its result's choices replay it).
  public let explored: Bool

  public init(
    signature: String, count: Int, placements: [Placement], kind: SweepOutcome.Kind = .judged,
    result: ScenarioResult?, detail: String? = nil, scheduleSeed: UInt64? = nil, explored: Bool = false
  ) {
    self.explored = explored
    self.scheduleSeed = scheduleSeed
    self.signature = signature
    self.count = count
    self.placements = placements
    self.kind = kind
    self.result = result
    self.detail = detail
  }
}

/// What a sweep of one plan produced.
public struct SweepReport: Sendable, Codable {
  public let plan: String
  public let file: String
  public let engine: String
  public let bugs: [String]
  public let depth: Int
  /// Scenarios in the space, and scenarios run (they differ only when a cap stopped the sweep).
  public let space: Int
  public let ran: Int
  /// Placements skipped because a scenario from the same state with the same fault was run.
  public let pruned: Int
  public let failures: [SweepFailure]
  public var failed: Int { failures.reduce(0) { $0 + $1.count } }
}

/// The fault space of a plan and how a sweep judges a scenario. In a sweep any operation may fail
/// (that is what the faults are for), so a scenario fails on a violated invariant, a hang or the
/// step bound, not on the plan's expected outcomes. `SweepDriver` runs the sweep.
public struct Sweeper: Sendable {
  public let runner: ScenarioRunner
  public init(registry: EngineRegistry) { runner = ScenarioRunner(registry: registry) }

  /// The depth-1 space of `plan`: the fault-free run's hits, placed.
  public func space(_ plan: Plan, _ config: SweepConfig, bugs: [String] = []) throws -> (
    base: ScenarioResult, placements: [Placement], pruned: Int
  ) {
    guard let engine = runner.registry.descriptor(named: plan.engine) else {
      throw SetupError(message: "\(plan.file): unknown engine \(plan.engine)")
    }
    let (base, hits, digests) = try runner.runRecordingHits(plan, RunOptions(bugs: bugs, faults: []), states: true)
    let (placements, pruned) = FaultSpace.placements(
      hits: hits, digests: digests, catalog: engine.catalog, config: config)
    return (base, placements, pruned)
  }

  /// A sweep scenario fails on a violation, a hang or the step bound.
  public static func failed(_ r: ScenarioResult) -> Bool { !r.violations.isEmpty || r.stop != "quiescent" }

  /// What identifies a sweep failure: the violated invariants (with when: after a failed
  /// operation or at rest), the fault points and action kinds placed with the operations whose
  /// hits fired them, and how the run stopped. Hit numbers do not enter it, so the same failure
  /// reached through another hit of the same point is one failure.
  public static func signature(_ r: ScenarioResult, _ placements: [Placement]) -> String {
    let invariants = Set(r.violations.map { "\($0.invariant)@\($0.moment.hasPrefix("after") ? "op" : "rest")" })
      .sorted()
    let faults = placements.map { p in
      let op = r.fired.first { $0.point == p.point && $0.hit == p.hit }?.op ?? "-"
      return "\(p.point):\(p.action.kind.rawValue):\(op)"
    }
    return (invariants + ["|"] + faults + ["|", r.stop]).joined(separator: " ")
  }
}
