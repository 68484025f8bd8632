import Foundation

/// One scenario of a sweep, as the parent hands it to a worker process and as the journal keeps
/// it: which plan, which bugs, which placements, and where it sits in the space.
public struct SweepScenario: Sendable, Codable, Hashable {
  /// The plan's file.
  public let plan: String
  public let bugs: [String]
  public let placements: [Placement]
  /// Position in the space: the depth-1 index, then the depth-2 index under it (-1 for none).
  public let index: Int
  public let child: Int
  /// For depth-1 scenarios of a depth-2 sweep: the config their children are placed by (the
  /// worker places them at its own run's hits).
  public let expand: SweepConfig?
  /// A seeded random schedule to run under (nil: the plan's own schedule).
  public let scheduleSeed: UInt64?
  /// A schedule as choice indexes (delay-bounded exploration), and the bound that explores it.
  public let prefix: [Int]?
  public let delayBound: Int?

  public init(
    plan: String, bugs: [String], placements: [Placement], index: Int, child: Int = -1, expand: SweepConfig? = nil,
    scheduleSeed: UInt64? = nil, prefix: [Int]? = nil, delayBound: Int? = nil
  ) {
    self.prefix = prefix
    self.delayBound = delayBound
    self.plan = plan
    self.bugs = bugs
    self.placements = placements
    self.index = index
    self.child = child
    self.expand = expand
    self.scheduleSeed = scheduleSeed
  }

  /// The same scenario under a seeded random schedule.
  public func scheduled(_ seed: UInt64) -> SweepScenario {
    SweepScenario(
      plan: plan, bugs: bugs, placements: placements, index: index, child: child, expand: expand, scheduleSeed: seed
    )
  }

  /// A stable identity: the journal and shards key on it.
  public var key: String {
    "\(plan)|\(index).\(child)|" + placements.map(\.description).joined(separator: "+")
      + (scheduleSeed.map { "|s\($0)" } ?? "")
      + (prefix.map { "|p" + $0.map(String.init).joined(separator: ".") } ?? "")
  }
}

/// How a scenario ended, as a worker (or the parent, for a worker that died) reports it.
public struct SweepOutcome: Sendable, Codable {
  public enum Kind: String, Sendable, Codable {
    /// The scenario ran to its end and was judged.
    case judged
    /// The worker process died (signal, trap, precondition) while running it.
    case crashed
    /// The worker did not answer within the per-scenario timeout and was killed.
    case timedOut = "timed-out"
  }
  public let scenario: SweepScenario
  public let kind: Kind
  /// The result, for judged scenarios that failed (a passing scenario keeps none).
  public private(set) var result: ScenarioResult?
  /// The depth-2 placements to add under this scenario (each as a second fault), when asked for.
  public let children: [Placement]?
  /// The schedules to explore next under the same faults (delay-bounded exploration).
  public let schedules: [[Int]]?
  /// Placements pruned: from this scenario's children, or (for a plan's fault-free scenario) from
  /// its depth-1 space. Always 0 since sweeps stopped pruning within a run (`FaultSpace` says why);
  /// kept so journals keep their shape.
  public let pruned: Int
  /// What happened, for crashed and timed-out scenarios (the signal, the timeout).
  public let detail: String?
  /// The faults that fired (judged scenarios): what coverage counts.
  public var fired: [FiredFault]?
  /// Schedule steps the plan's tasks took (judged scenarios): the run's logical time.
  public var steps: Int?
  /// The plan tasks' operations that did not succeed, in plan order (`t1/2 fsync: EIO`), judged
  /// scenarios only; nil when every one succeeded. Where an error surfaced: what coverage-guided
  /// exploration tells paths apart by.
  public var errors: [String]?
  /// Wall-clock nanoseconds the scenario took where it ran. The only clock reading in a sweep's
  /// records; it goes to timings.json, never into results.json.
  public var nanos: UInt64?
  /// This outcome as a worker process encoded it (sorted keys, as the journal does): the journal
  /// writes these bytes rather than encode a failure's whole result a second time. Not coded.
  public var encoded: Data?
  /// A failure whose result was left out (`slimmed`): its signature.
  public private(set) var slimSignature: String?
  /// Judged scenarios only: it found nothing, but some state could not be read or some outcome
  /// interpreted (nil: false). Kept when the result is slimmed.
  public var unjudged: Bool?
  /// Crashed scenarios: what ended the worker (`SIGSEGV`, `exit-3`, `garbled`). Different causes
  /// are different failures.
  public var cause: String?
  /// Crashed or timed-out scenarios whose second run, in a fresh worker, ended otherwise (the
  /// detail says how); for an engine that is not deterministic, any failure none of whose reruns
  /// ended the same way: not a reproducible failure, still reported (nil: false).
  public var flaky: Bool?
  /// Failures of an engine that is not deterministic: how many times the scenario ran again
  /// (`--reruns`), and how many of those ended the same way (the same signature). nil: not rerun.
  public var reruns: Int?
  public var reproduced: Int?
  /// How each rerun that did not reproduce ended instead (`passed`, `failed (SIGNATURE)` …).
  public var rerunEnds: [String]?
  /// Depth-1 scenarios of a depth-2 sweep: a digest of where the run ended (`StateDigest`), so
  /// the sweep runs pairs under first faults that led somewhere new before the others.
  public var state: String?

  enum CodingKeys: String, CodingKey {
    case scenario, kind, result, children, schedules, pruned, detail, fired, steps, errors, nanos, unjudged, cause
    case flaky
    case reruns, reproduced, rerunEnds, state
    case slimSignature = "signature"
  }

  /// This judged failure without its result, keeping its `signature`: what the journal keeps of a
  /// failure when an earlier scenario (in space order) holds the same signature's whole result,
  /// which is the only one the reports read.
  func slimmed(signature: String) -> SweepOutcome {
    var o = self
    o.result = nil
    o.encoded = nil
    o.slimSignature = signature
    return o
  }

  public init(
    scenario: SweepScenario, kind: Kind, result: ScenarioResult? = nil, children: [Placement]? = nil, pruned: Int = 0,
    detail: String? = nil, schedules: [[Int]]? = nil
  ) {
    self.schedules = schedules
    self.scenario = scenario
    self.kind = kind
    self.result = result
    self.children = children
    self.pruned = pruned
    self.detail = detail
  }

  public var failed: Bool { kind != .judged || result != nil || slimSignature != nil }

  /// The sweep signature; a crash or timeout is its own failure, keyed by what ended the worker
  /// (a SIGSEGV is not a SIGABRT), whether it reproduced, and where the fault was.
  public var signature: String {
    switch kind {
    case .judged: slimSignature ?? Sweeper.signature(result!, scenario.placements)
    case .crashed, .timedOut:
      kind.rawValue + (cause.map { ":" + $0 } ?? "") + (flaky == true ? " flaky" : "") + " | "
        + scenario.placements.map { "\($0.point):\($0.action.kind.rawValue)" }.joined(separator: " ")
    }
  }
}
