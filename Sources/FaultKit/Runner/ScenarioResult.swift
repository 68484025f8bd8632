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
  /// What the oracles could not read or the harness could not interpret (nil: nothing). A
  /// scenario with any is unjudged: never passed.
  public var unjudged: [Unjudged]?
  /// The plan's faults that never fired (nil: every one fired).
  public var unfired: [UnfiredFault]?

  init(
    plan: String, file: String, engine: String, bugs: [String], seed: UInt64, schedule: String, faults: [String],
    ops: [OpRecord], violations: [Violation], fired: [Hit], stop: String, steps: Int, choices: [String],
    invariantsChecked: [InvariantName], diffAtRest: [String], diffFromFaultFree: [String]?, trace: [String],
    firstFaultAt: Int?, baseline: Snapshot? = nil, atRest: Snapshot? = nil, unjudged: [Unjudged] = [],
    unfired: [UnfiredFault] = []
  ) {
    self.plan = plan
    self.file = file
    self.engine = engine
    self.bugs = bugs
    self.seed = seed
    self.schedule = schedule
    self.faults = faults
    self.ops = ops
    self.violations = violations
    self.fired = fired
    self.stop = stop
    self.steps = steps
    self.choices = choices
    self.invariantsChecked = invariantsChecked
    self.diffAtRest = diffAtRest
    self.diffFromFaultFree = diffFromFaultFree
    self.trace = trace
    self.firstFaultAt = firstFaultAt
    self.baseline = baseline
    self.atRest = atRest
    self.unjudged = unjudged.isEmpty ? nil : unjudged
    self.unfired = unfired.isEmpty ? nil : unfired
  }

  /// Operations whose outcome the plan did not expect.
  public var unexpected: [OpRecord] { ops.filter { !$0.asExpected } }

  /// Faults the plan required to fire that did not.
  public var unfiredRequired: [UnfiredFault] { (unfired ?? []).filter(\.required) }

  /// Every state the oracles needed was read and every outcome interpreted.
  public var judged: Bool { unjudged?.isEmpty ?? true }

  /// Something was found: a violation, an operation that ended unexpectedly, a fault the plan
  /// required that never fired. (An unjudged scenario with nothing found is not failed: it is
  /// unjudged.)
  public var failed: Bool { !violations.isEmpty || !ops.allSatisfy(\.asExpected) || !unfiredRequired.isEmpty }

  /// True when every expectation held and everything was judged.
  public var passed: Bool { !failed && judged }

  /// The kinds of what could not be judged, sorted, once each.
  public var unjudgedKinds: [Unjudged.Kind] { Array(Set((unjudged ?? []).map(\.kind))).sorted() }

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
    let more = unjudgedKinds.map { "unjudged:\($0.rawValue)" } + (unfiredRequired.isEmpty ? [] : ["unfired"])
    return (invariants + ["|"] + faults + ["|"] + ops + more).joined(separator: " ")
  }
}

/// A fault of the plan that never fired: which, and how often its point was reached.
public struct UnfiredFault: Sendable, Hashable, Codable {
  /// `fault 1 (at: alloc.data, nth: 2, fail: ENOSPC)`.
  public let fault: String
  /// `alloc.data was reached 1 time`.
  public let reached: String
  /// The plan requires its faults to fire (`expect: { faults: fired }`, the default).
  public let required: Bool
}
