/// One operation of a scenario as it ran.
public struct OpRecord: Sendable, Hashable, Codable {
  public let task: String
  /// 1-based within the task.
  public let index: Int
  public let op: String
  public let outcome: OpOutcome
  public let expected: String
  public let asExpected: Bool
}

/// Everything a scenario produced: outcome, violations with their evidence, the trace. No wall
/// clock in it: two runs of the same plan and seed encode to the same bytes.
public struct ScenarioResult: Sendable, Hashable, Codable {
  public static let schemaVersion = 1
  public var schema = ScenarioResult.schemaVersion
  public let plan: String
  public let file: String
  public let engine: String
  public let bugs: [String]
  public let seed: UInt64
  public let schedule: String
  public let faults: [String]
  public let ops: [OpRecord]
  public let violations: [Violation]
  /// The hits that fired, in order.
  public let fired: [Hit]
  /// `quiescent`, `hang` or `step-bound`.
  public let stop: String
  public let steps: Int
  /// The task picked at each schedule point that had a choice (replays the schedule).
  public let choices: [String]
  public let invariantsChecked: [InvariantName]
  /// The diff from the baseline at rest.
  public let diffAtRest: [String]
  /// The diff from the same scenario run without faults, at rest (when it was computed).
  public let diffFromFaultFree: [String]?
  public let trace: [String]
  /// Index in `trace` of the first injected fault, if one fired.
  public let firstFaultAt: Int?
  /// The engine's state after setup and at rest: what reports draw (extents by source, locks,
  /// pages). Optional so results written without them still decode.
  public var baseline: Snapshot?
  public var atRest: Snapshot?
  /// Operations whose outcome the plan did not expect.
  public var unexpected: [OpRecord] { ops.filter { !$0.asExpected } }

  /// True when every expectation held: no violation, every op as expected.
  public var passed: Bool { violations.isEmpty && ops.allSatisfy(\.asExpected) }

  /// The distinct invariant names violated, sorted.
  public var violatedInvariants: [InvariantName] { Array(Set(violations.map(\.invariant))).sorted() }

  /// What identifies this failure for de-duplication: the violated invariants with when they were
  /// seen, the fault points that fired with their decisions, and the operations that ended
  /// unexpectedly. Two schedules that fail the same way share it; task interleavings, hit numbers
  /// and step counts do not enter it.
  public var signature: String {
    let invariants = Set(violations.map { "\($0.invariant)@\($0.moment.hasPrefix("after") ? "op" : "rest")" }).sorted()
    let faults = Set(fired.filter { !$0.decision.hasPrefix("yield") }.map { "\($0.point):\($0.decision)" }).sorted()
    let ops = unexpected.map { "\($0.task)/\($0.index):\($0.outcome.status.rawValue)" }
    return (invariants + ["|"] + faults + ["|"] + ops).joined(separator: " ")
  }
}
