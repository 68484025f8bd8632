/// Which hits of a point fire. Hits are counted per fault (only hits that pass the fault's task and
/// operation filters count), 1-based.
public enum Trigger: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The nth hit.
  case nth(Int)
  /// Hits n, 2n, 3n, …
  case every(Int)
  /// The `times` hits after the first `skip` (times nil: every hit after them).
  case after(skip: Int, times: Int?)
  /// Each hit with probability `p`, drawn from a generator seeded with `seed`.
  case probability(Double, seed: UInt64)

  public var description: String {
    switch self {
    case .nth(let n): "nth: \(n)"
    case .every(let n): "every: \(n)"
    case .after(let s, let t): "after: \(s)" + (t.map { ", times: \($0)" } ?? "")
    case .probability(let p, let seed): "probability: \(p), seed: \(seed)"
    }
  }
}

/// Transient faults fire on the hits their trigger picks; persistent ones keep firing on every
/// matching hit from the first one on (SQLite's two fault modes).
public enum FaultMode: String, Hashable, Sendable, Codable {
  case transient, persistent
}

/// What a firing hit does, with its argument.
public enum FaultAction: Hashable, Sendable, Codable, CustomStringConvertible {
  /// Return this errno from the point.
  case fail(Errno)
  /// An allocator or copy returns less than asked: at most `maxBytes`, or half when nil.
  case short(maxBytes: UInt64?)
  /// Force a transaction restart.
  case restart
  /// Hand the CPU to another task here: the named one, or whichever the policy picks.
  case yield(to: String?)
  /// Cut the power here (`FaultPointKind.power`).
  case crash

  public var kind: FaultActionKind {
    switch self {
    case .fail: .fail
    case .short: .short
    case .restart: .restart
    case .yield: .yield
    case .crash: .crash
    }
  }

  public var description: String {
    switch self {
    case .fail(let e): "fail: \(e.name)"
    case .short(let m): m.map { "short: \($0)" } ?? "short"
    case .restart: "restart"
    case .yield(let t): t.map { "yield: \($0)" } ?? "yield"
    case .crash: "crash"
    }
  }
}

/// One fault of a plan: where, which hits, in which context, and what happens.
public struct FaultSpec: Hashable, Sendable, Codable, CustomStringConvertible {
  /// A point name (exact; resolved against the engine's catalog when the plan loads).
  public var point: String
  public var trigger: Trigger
  public var mode: FaultMode
  public var action: FaultAction
  /// Only hits made by this task count (nil: any task).
  public var task: String?
  /// Only hits made during this operation count (nil: any operation).
  public var op: String?

  public init(
    point: String, trigger: Trigger, mode: FaultMode = .transient, action: FaultAction,
    task: String? = nil, op: String? = nil
  ) {
    self.point = point
    self.trigger = trigger
    self.mode = mode
    self.action = action
    self.task = task
    self.op = op
  }

  public var description: String {
    var s = "at: \(point), \(trigger), \(action)"
    if mode == .persistent { s += ", mode: persistent" }
    if let task { s += ", task: \(task)" }
    if let op { s += ", op: \(op)" }
    return s
  }
}
