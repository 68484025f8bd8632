/// A choice the scheduler asks its policy to make at a schedule point where more than one task
/// could run.
public struct ScheduleChoice: Sendable {
  /// What kind of point this is (`lock page /a#3`, `fault alloc.data`, `block`, `finish`).
  public let point: String
  /// The task that reached the point, if it may go on running.
  public let current: String?
  /// Runnable task names: the current task first when it may continue, then the others in the
  /// order they became runnable.
  public let candidates: [String]
  /// Schedule points passed so far in the scenario.
  public let step: Int
}

/// Picks the next task at each schedule point. Sweeps implement it to explore interleavings.
public protocol SchedulePolicy {
  /// Returns an index into `choice.candidates`.
  mutating func choose(_ choice: ScheduleChoice) -> Int
  /// Where a replay left its recorded choices, if it did.
  var divergence: String? { get }
}

extension SchedulePolicy {
  public var divergence: String? { nil }
}

/// Run the current task until it blocks or ends, then the task runnable longest.
public struct FIFOPolicy: SchedulePolicy {
  public init() {}
  public mutating func choose(_ choice: ScheduleChoice) -> Int { 0 }
}

/// A seeded uniform choice among the runnable tasks at every schedule point.
public struct RandomPolicy: SchedulePolicy {
  private var rng: SplitMix64
  public init(seed: UInt64) { rng = SplitMix64(seed: seed) }
  public mutating func choose(_ choice: ScheduleChoice) -> Int {
    Int(rng.next() % UInt64(choice.candidates.count))
  }
}

/// Follows recorded choices (the task picked at each point that had a choice), then runs fifo.
/// A run that cannot follow them (a recorded task that cannot run), asks for more choices than
/// were recorded, or leaves some unused has diverged: `divergence` says where.
public struct ReplayPolicy: SchedulePolicy {
  private let choices: [String]
  private var next = 0
  private var first: String?
  public init(_ choices: [String]) { self.choices = choices }
  public mutating func choose(_ choice: ScheduleChoice) -> Int {
    guard next < choices.count else {
      next += 1
      if first == nil {
        first =
          "choice \(next): the recording has only \(choices.count) (runnable \(choice.candidates.joined(separator: ", ")))"
      }
      return 0
    }
    let want = choices[next]
    next += 1
    if let i = choice.candidates.firstIndex(of: want) { return i }
    if first == nil {
      first = "choice \(next): recorded \(want), runnable \(choice.candidates.joined(separator: ", "))"
    }
    return 0
  }
  public var divergence: String? {
    if let first { return first }
    if next < choices.count { return "the run made \(next) choices; the recording has \(choices.count)" }
    return nil
  }
}

extension ScheduleSpec {
  /// The policy this spec names.
  public func makePolicy() -> any SchedulePolicy {
    switch self {
    case .fifo: FIFOPolicy()
    case .random(let seed): RandomPolicy(seed: seed)
    case .replay(let c): ReplayPolicy(c)
    }
  }
}

/// Follows a prefix of choices given as indexes into the candidates at each point with a choice,
/// then runs fifo: how exhaustive exploration names a schedule.
public struct PrefixPolicy: SchedulePolicy {
  private let prefix: [Int]
  private var next = 0
  public init(_ prefix: [Int]) { self.prefix = prefix }
  public mutating func choose(_ choice: ScheduleChoice) -> Int {
    defer { next += 1 }
    guard next < prefix.count else { return 0 }
    return min(prefix[next], choice.candidates.count - 1)
  }
}

/// Delay-bounded exploration: the schedules that deviate from fifo (pick other than the first
/// candidate) at most `bound` times, enumerated as a tree of prefixes: each run's children differ
/// from it at one choice point after its own prefix, so every schedule is run once.
public enum DelayBounded {
  /// The child prefixes of a run that followed `prefix` and met choice points with `counts`
  /// candidates, with at most `bound` deviations from fifo in all.
  public static func children(prefix: [Int], counts: [Int], bound: Int) -> [[Int]] {
    let used = prefix.filter { $0 != 0 }.count
    guard used < bound else { return [] }
    var out: [[Int]] = []
    for i in prefix.count..<counts.count {
      let head = Array(prefix) + Array(repeating: 0, count: i - prefix.count)
      for alt in 1..<max(1, counts[i]) { out.append(head + [alt]) }
    }
    return out
  }
}
