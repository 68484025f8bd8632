/// How often a point was hit in a run.
public struct PointHits: Sendable, Codable, Hashable {
  public let point: String
  public let hits: Int
  public init(point: String, hits: Int) {
    self.point = point
    self.hits = hits
  }

  /// Hit counts per point, in order of first hit.
  public static func count(_ hits: [Hit]) -> [PointHits] {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for h in hits {
      if counts[h.point] == nil { order.append(h.point) }
      counts[h.point, default: 0] += 1
    }
    return order.map { PointHits(point: $0, hits: counts[$0]!) }
  }
}

/// A fault that fired in a scenario: where, which hit, what it did (`fail: ENOSPC`, `short: 512`).
public struct FiredFault: Sendable, Codable, Hashable {
  public let point: String
  public let hit: Int
  public let decision: String
  /// The kind of operation the hit was made in (`fsync`, a worker's `finish_ordered_io`); nil
  /// in results written before it was recorded.
  public let op: String?
  public init(point: String, hit: Int, decision: String, op: String? = nil) {
    self.point = point
    self.hit = hit
    self.decision = decision
    self.op = op
  }

  /// The errno a `fail` decision injected.
  public var errno: String? {
    decision.hasPrefix("fail: ") ? String(decision.dropFirst("fail: ".count)) : nil
  }
}

/// One scenario of a run, in a line: where it sits in the space, its faults and schedule, how it
/// ended. A failing scenario names its signature; the group with that signature holds the
/// evidence of the first scenario that showed it.
public struct ScenarioEntry: Sendable, Codable, Hashable {
  public enum Outcome: String, Sendable, Codable, Hashable {
    case passed, failed, crashed
    case timedOut = "timed-out"
    /// It found nothing, but the oracles could not read some state (`Unjudged`): not a pass.
    case unjudged
  }
  /// Stable identity (the sweep journal's key).
  public let key: String
  /// Position: depth-1 index, depth-2 index under it (-1 for none).
  public let index: Int
  public let child: Int
  /// The placed faults (`alloc.data#2 fail: ENOSPC`).
  public let faults: [String]
  /// The seeded random schedule it ran under, or the explored schedule's choices; both nil: the
  /// plan's own schedule.
  public let scheduleSeed: UInt64?
  public let explored: [Int]?
  public let outcome: Outcome
  public let signature: String?
  /// The plan tasks' schedule steps (nil when the worker crashed or timed out).
  public let steps: Int?
  public let fired: [FiredFault]
  /// The plan tasks' operations that did not succeed, in plan order (`t1/2 fsync: EIO`); nil
  /// when every one succeeded, or in results written before it was recorded.
  public let errors: [String]?

  public init(
    key: String, index: Int, child: Int, faults: [String], scheduleSeed: UInt64?, explored: [Int]?,
    outcome: Outcome, signature: String?, steps: Int?, fired: [FiredFault], errors: [String]? = nil
  ) {
    self.errors = errors
    self.key = key
    self.index = index
    self.child = child
    self.faults = faults
    self.scheduleSeed = scheduleSeed
    self.explored = explored
    self.outcome = outcome
    self.signature = signature
    self.steps = steps
    self.fired = fired
  }

  /// The operations of `ops` that did not succeed, as `TASK/N OP: OUTCOME`; nil when none.
  public static func errors(_ ops: [OpRecord]) -> [String]? {
    let out = ops.filter { $0.outcome.status != .ok }.map { r in
      // The record names the op with its arguments (`write { path: /a … }`): its kind is the first word.
      let kind = r.op.prefix { $0 != " " }
      let end = r.outcome.status == .error ? r.outcome.errno?.name ?? "error" : r.outcome.status.rawValue
      return "\(r.task)/\(r.index) \(kind): \(end)"
    }
    return out.isEmpty ? nil : out
  }

  /// Space order: what "first" means for a signature, and the order results list scenarios in.
  public static func spaceOrder(_ a: ScenarioEntry, _ b: ScenarioEntry) -> Bool {
    (a.index, a.child, a.scheduleSeed ?? 0, a.key) < (b.index, b.child, b.scheduleSeed ?? 0, b.key)
  }
}

/// A distinct failure: its signature, how many scenarios showed it, and the first of them (in
/// space order) with its evidence, which is what a repro replays.
public struct FailureGroup: Sendable, Codable {
  public let signature: String
  public var count: Int
  /// The first scenario's key (see `ScenarioEntry.key`).
  public let first: String
  public let placements: [Placement]
  /// judged, crashed or timed-out.
  public let kind: SweepOutcome.Kind
  /// The first scenario's result (nil when its worker crashed or timed out).
  public var result: ScenarioResult?
  public let detail: String?
  /// The random schedule it ran under, when the sweep crossed placements with schedules.
  public let scheduleSeed: UInt64?
  /// It ran under an explored schedule (its result's choices replay it).
  public let explored: Bool
  /// The repro plan written for it, relative to the report directory (`repro/x-repro-1.yaml`).
  public var repro: String?
  /// How the repro was shrunk (`4 ops to 2 in 5 runs`); nil when it was kept as found.
  public var shrunk: String?
  /// Why a judged failure's repro was kept as found: the engine crashed or hung while shrinking it.
  public var notShrunk: String?
  /// Why the group has no snapshots to draw: the engine crashed or hung when its first scenario
  /// was run again for them.
  public var noSnapshots: String?
  /// Every invariant it violates is one its engine calls expected behaviour (`RunResults.markExpected`):
  /// reported separately, not a bug.
  public var expected = false
  /// Its scenarios found nothing but could not be judged (`ScenarioResult.unjudged` says what
  /// was not read): counted apart from failures, never as passed. nil: false.
  public var unjudged: Bool?
  /// An engine that is not deterministic: how many times its first scenario ran again, how many
  /// of those ended the same way, and how the others ended (`SweepOutcome.reruns`). nil: not rerun.
  public var reruns: Int?
  public var reproduced: Int?
  public var rerunEnds: [String]?

  public var isUnjudged: Bool { unjudged == true }

  /// `reproduced 1 of 3 reruns (flaky …)`, for a group that was rerun.
  public var rerunWords: String? {
    guard let reruns, let reproduced else { return nil }
    var w = "reproduced \(reproduced) of \(reruns) rerun\(reruns == 1 ? "" : "s")"
    if reproduced == 0 { w += " (flaky: it happened once)" }
    if let ends = rerunEnds, !ends.isEmpty {
      w += "; the other\(ends.count == 1 ? "" : "s") " + ends.joined(separator: ", ")
    }
    return w
  }

  public init(
    signature: String, count: Int, first: String, placements: [Placement], kind: SweepOutcome.Kind = .judged,
    result: ScenarioResult?, detail: String? = nil, scheduleSeed: UInt64? = nil, explored: Bool = false,
    repro: String? = nil, unjudged: Bool = false
  ) {
    self.unjudged = unjudged ? true : nil
    self.signature = signature
    self.count = count
    self.first = first
    self.placements = placements
    self.kind = kind
    self.result = result
    self.detail = detail
    self.scheduleSeed = scheduleSeed
    self.explored = explored
    self.repro = repro
  }

  /// The violated invariants, sorted; for a crash or timeout, that word; for an unjudged
  /// group, `unjudged`.
  public var invariants: [String] {
    if isUnjudged { return ["unjudged"] }
    guard kind == .judged, let r = result else { return [kind.rawValue] }
    let names = r.violatedInvariants.map(\.rawValue)
    return names.isEmpty ? [r.stop] : names
  }

  /// The faults that fired (or were placed, when the worker died), as `point#hit action`.
  public var faultWords: [String] {
    if let r = result {
      let fired = r.fired.filter { !$0.decision.hasPrefix("yield") }
      if !fired.isEmpty { return HitRun.fold(fired).map(\.description) }
    }
    return placements.map(\.description)
  }

  /// The schedule as a developer reads it.
  public var scheduleWords: String {
    if explored, let r = result { return "explored: replay \(r.choices)" }
    if let s = scheduleSeed { return "random, seed \(s)" }
    return result?.schedule ?? "the plan's"
  }
}

/// What a run produced for one plan: every scenario, the distinct failures, what it reached.
public struct PlanResults: Sendable, Codable {
  public let plan: String
  public let file: String
  public let engine: String
  public let bugs: [String]
  public let depth: Int
  /// Depth-1 scenarios in the plan's whole space (all shards).
  public let space: Int
  /// Depth-1 placements pruned from the space, and depth-2 placements pruned under the scenarios
  /// this run ran. Both 0 since sweeps stopped pruning within a run (`FaultSpace` says why); kept
  /// so results.json keeps its schema.
  public let pruned: Int
  public let prunedChildren: Int
  /// How often each point was hit in the plan's fault-free run.
  public let reached: [PointHits]
  /// Every scenario that ran, in space order.
  public let scenarios: [ScenarioEntry]
  /// Distinct failures, in order of their first scenario.
  public var failures: [FailureGroup]
  /// Per point of the engine's catalog: declared, reached, fired, led to a violation.
  public var coverage: [PointCoverage]
  /// How many scenarios ran, when `scenarios` is left empty because they are streamed into
  /// results.json rather than held (a sweep's); nil: `scenarios` holds them all. Not coded.
  public var streamed: Int?

  enum CodingKeys: String, CodingKey {
    case plan, file, engine, bugs, depth, space, pruned, prunedChildren, reached, scenarios, failures, coverage
  }

  public init(
    plan: String, file: String, engine: String, bugs: [String], depth: Int, space: Int, pruned: Int,
    prunedChildren: Int, reached: [PointHits], scenarios: [ScenarioEntry], failures: [FailureGroup],
    coverage: [PointCoverage] = []
  ) {
    self.plan = plan
    self.file = file
    self.engine = engine
    self.bugs = bugs
    self.depth = depth
    self.space = space
    self.pruned = pruned
    self.prunedChildren = prunedChildren
    self.reached = reached
    self.scenarios = scenarios
    self.failures = failures
    self.coverage = coverage
  }

  public var ran: Int { streamed ?? scenarios.count }
  /// Scenarios that failed (violations, crashes, hangs): unjudged ones are not among them.
  public var failed: Int { failures.reduce(0) { $0 + ($1.isUnjudged ? 0 : $1.count) } }
  /// Scenarios that found nothing but could not be judged.
  public var unjudged: Int { failures.reduce(0) { $0 + ($1.isUnjudged ? $1.count : 0) } }
  public var passed: Int { ran - failed - unjudged }
}

/// Consecutive hits of one point with the same decision, as one run: a persistent fault that
/// fired at hits 3 to 11 reads `io.read#3-11 fail: EIO (9 hits)`, not nine entries.
public struct HitRun: Sendable, Hashable, CustomStringConvertible {
  public let point: String
  public let first: Int
  public let last: Int
  public let decision: String
  public let task: String
  public let op: String

  public var description: String {
    first == last ? "\(point)#\(first) \(decision)" : "\(point)#\(first)-\(last) \(decision) (\(last - first + 1) hits)"
  }

  public static func fold(_ hits: [Hit]) -> [HitRun] {
    var out: [HitRun] = []
    for h in hits {
      if let l = out.last, l.point == h.point, l.decision == h.decision, l.last + 1 == h.hit {
        out[out.count - 1] = HitRun(
          point: l.point, first: l.first, last: h.hit, decision: l.decision, task: l.task, op: l.op)
      } else {
        out.append(HitRun(point: h.point, first: h.hit, last: h.hit, decision: h.decision, task: h.task, op: h.op))
      }
    }
    return out
  }
}
