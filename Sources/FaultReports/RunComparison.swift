import FaultKit

/// A run against an earlier one and a known-failures list: what is new, what still fails, what
/// was fixed. Failures are keyed by plan and signature.
public struct RunComparison: Sendable {
  public struct Key: Hashable, Comparable, Sendable {
    public let plan: String
    public let signature: String
    public init(plan: String, signature: String) {
      self.plan = plan
      self.signature = signature
    }
    public static func < (a: Key, b: Key) -> Bool { (a.plan, a.signature) < (b.plan, b.signature) }
  }
  public let new: [Key]
  public let still: [Key]
  public let fixed: [Key]

  public static func failures(_ r: RunResults) -> Set<Key> {
    Set(r.plans.flatMap { p in p.failures.map { Key(plan: p.plan, signature: $0.signature) } })
  }

  /// `known` failures count as expected: never new, and fixed once they stop failing.
  public init(now: RunResults, before: RunResults?, known: Set<Key>) {
    let n = Self.failures(now)
    let b = before.map(Self.failures) ?? []
    new = n.subtracting(b).subtracting(known).sorted()
    still = n.intersection(b.union(known)).sorted()
    // Only plans this run ran can have been fixed by it.
    let ran = Set(now.plans.map(\.plan))
    fixed = b.union(known).subtracting(n).filter { ran.contains($0.plan) }.sorted()
  }
}
