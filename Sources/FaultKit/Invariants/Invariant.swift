/// The name of an invariant, shared across engines (DESIGN.md's table) or engine-specific.
public struct InvariantName: RawRepresentable, Hashable, Comparable, Sendable, Codable,
  ExpressibleByStringLiteral, CustomStringConvertible
{
  public let rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }
  public init(stringLiteral value: String) { rawValue = value }
  public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(rawValue)
  }
  public var description: String { rawValue }
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  public static let locksReleased: InvariantName = "locks-released"
  public static let noHang: InvariantName = "no-hang"
  public static let spaceBalanced: InvariantName = "space-balanced"
  public static let orderedExtentsComplete: InvariantName = "ordered-extents-complete"
  public static let extentCacheCoherent: InvariantName = "extent-cache-coherent"
  public static let delallocBacked: InvariantName = "delalloc-backed"
  public static let noDoubleAllocation: InvariantName = "no-double-allocation"
  public static let dataDurable: InvariantName = "data-durable"
  public static let errorsReported: InvariantName = "errors-reported"
  public static let pagecacheCoherent: InvariantName = "pagecache-coherent"
  public static let unlockByOwner: InvariantName = "unlock-by-owner"
  public static let noBadPageState: InvariantName = "no-bad-page-state"
  /// The harness's own check of op outcomes (`OpErrnos`): no engine declares it, every run has it.
  public static let opErrorsExplained: InvariantName = "op-errors-explained"

  /// DESIGN.md's shared names, in its order, then the ones added since.
  public static let shared: [InvariantName] = [
    .locksReleased, .noHang, .spaceBalanced, .orderedExtentsComplete, .extentCacheCoherent,
    .delallocBacked, .noDoubleAllocation, .dataDurable, .errorsReported, .pagecacheCoherent, .unlockByOwner,
    .noBadPageState,
  ]
}

/// When invariants are checked.
public enum Moment: Sendable, Hashable, Codable, CustomStringConvertible {
  /// Right after an operation that saw an injected failure returned (with its error, or, when
  /// `succeeded`, with success: the failure was retried or swallowed); other tasks and workers may
  /// be mid-flight, so only what must hold at an operation boundary is checked.
  case afterFailedOp(task: String, op: Int, opName: String, succeeded: Bool = false)
  /// No task can run: every plan task finished, or the scenario hung.
  case atRest

  public var description: String {
    switch self {
    case .afterFailedOp(let t, let n, let name, let ok):
      ok ? "after \(t) op \(n) (\(name)), which a fault hit, returned ok" : "after \(t) op \(n) (\(name)) failed"
    case .atRest: "at rest"
    }
  }
  public var isAtRest: Bool { self == .atRest }
}

/// What an invariant sees.
public struct InvariantContext: Sendable {
  public let moment: Moment
  public let baseline: Snapshot
  public let current: Snapshot
  public let diff: SnapshotDiff
  public let tasks: [TaskStatus]
  /// Why the scheduler stopped, at rest.
  public let stop: StopReason?

  public init(
    moment: Moment, baseline: Snapshot, current: Snapshot, diff: SnapshotDiff, tasks: [TaskStatus], stop: StopReason?
  ) {
    self.moment = moment
    self.baseline = baseline
    self.current = current
    self.diff = diff
    self.tasks = tasks
    self.stop = stop
  }

  public func task(_ name: String) -> TaskStatus? { tasks.first { $0.name == name } }
}

/// A named check on a snapshot (or a baseline/current pair). Each says what it checks and what it
/// deliberately does not.
public protocol Invariant: Sendable {
  var name: InvariantName { get }
  /// What holds when this invariant passes.
  var checks: String { get }
  /// What it does not look at, and why.
  var doesNotCheck: String { get }
  func check(_ context: InvariantContext) -> [Violation]
}

extension Invariant {
  /// For invariants an engine's own instruments judge as things happen (a lock primitive, the
  /// page cache, a C engine's own checks): the snapshot's assertions under this invariant's name,
  /// as one violation that quotes the first (after `prefix`) and lists them all as evidence.
  public func asserted(_ c: InvariantContext, prefix: String = "") -> [Violation] {
    let breaches = c.current.assertions.filter { $0.rule == name.rawValue }
    guard let first = breaches.first else { return [] }
    let more = breaches.count > 1 ? " (and \(breaches.count - 1) more)" : ""
    return [Violation(name, moment: c.moment, prefix + first.detail + more, evidence: breaches.map(\.detail))]
  }
}

/// An invariant that failed, with its evidence: the diff lines (or oracle lines) that show it.
public struct Violation: Sendable, Hashable, Codable {
  public let invariant: InvariantName
  /// When it was seen (`at rest`, `after writer op 2 (writeback) failed`).
  public let moment: String
  public let message: String
  public let evidence: [String]

  public init(_ invariant: InvariantName, moment: Moment, _ message: String, evidence: [String] = []) {
    self.init(invariant, moment: moment.description, message, evidence: evidence)
  }

  /// A violation seen at a moment the `Moment` cases do not name (`after app op 2 (read) returned`,
  /// where the data oracle checks a read).
  public init(_ invariant: InvariantName, moment: String, _ message: String, evidence: [String] = []) {
    self.invariant = invariant
    self.moment = moment
    self.message = message
    self.evidence = evidence
  }
}
