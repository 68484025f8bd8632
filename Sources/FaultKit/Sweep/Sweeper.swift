/// A distinct failure a sweep found: its signature, how many scenarios showed it, and the first
/// of them (placements and result), which is what a repro replays.
public struct SweepFailure: Sendable, Codable {
  public let signature: String
  public var count: Int
  public let placements: [Placement]
  public let result: ScenarioResult
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
  public let failures: [SweepFailure]
  public var failed: Int { failures.reduce(0) { $0 + $1.count } }
}

/// Places a fault at every hit of every point a plan reaches and judges each scenario. In a sweep
/// any operation may fail (that is what the faults are for), so a scenario fails on a violated
/// invariant, a hang or the step bound, not on the plan's expected outcomes.
public struct Sweeper: Sendable {
  public let runner: ScenarioRunner
  public init(registry: EngineRegistry) { runner = ScenarioRunner(registry: registry) }

  /// The depth-1 space of `plan`: the fault-free run's hits, placed.
  public func space(_ plan: Plan, _ config: SweepConfig, bugs: [String] = []) throws -> (
    base: ScenarioResult, placements: [Placement]
  ) {
    guard let engine = runner.registry.descriptor(named: plan.engine) else {
      throw SetupError(message: "\(plan.file): unknown engine \(plan.engine)")
    }
    let (base, hits) = try runner.runRecordingHits(plan, RunOptions(bugs: bugs, faults: []))
    return (base, FaultSpace.placements(hits: hits, catalog: engine.catalog, config: config))
  }

  /// Sweeps `plan`. `progress(done, total)` is called after every scenario; `limit` caps the
  /// number of scenarios (nil: the whole space).
  public func sweep(
    _ plan: Plan, _ config: SweepConfig, bugs: [String] = [], limit: Int? = nil,
    progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> SweepReport {
    guard let engine = runner.registry.descriptor(named: plan.engine) else {
      throw SetupError(message: "\(plan.file): unknown engine \(plan.engine)")
    }
    let (base, first) = try space(plan, config, bugs: bugs)
    var scenarios: [[Placement]] = first.map { [$0] }
    var failures: [SweepFailure] = []
    var ran = 0
    func judge(_ placements: [Placement], _ r: ScenarioResult) {
      guard Self.failed(r) else { return }
      let sig = Self.signature(r, placements)
      if let i = failures.firstIndex(where: { $0.signature == sig }) {
        failures[i].count += 1
      } else {
        failures.append(SweepFailure(signature: sig, count: 1, placements: placements, result: r))
      }
    }
    // The fault-free run itself may fail (a bug switched on fails without any fault).
    judge([], base)
    var index = 0
    while index < scenarios.count {
      if let limit, ran >= limit { break }
      let placements = scenarios[index]
      index += 1
      let options = RunOptions(bugs: bugs, faults: placements.map(\.spec))
      let (r, hits) = try runner.runRecordingHits(plan, options)
      ran += 1
      judge(placements, r)
      if config.depth >= 2 && placements.count == 1 {
        let again = FaultSpace.placements(hits: hits, catalog: engine.catalog, config: config).filter {
          !($0.point == placements[0].point && $0.hit == placements[0].hit)
        }
        scenarios += again.map { placements + [$0] }
      }
      progress(ran, scenarios.count)
    }
    return SweepReport(
      plan: plan.name, file: plan.file, engine: plan.engine, bugs: bugs.sorted(), depth: config.depth,
      space: scenarios.count, ran: ran, failures: failures)
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
