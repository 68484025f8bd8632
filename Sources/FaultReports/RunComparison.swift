import FaultKit

/// A run against what earlier runs found and a known-failures list: what is new, what still
/// fails, what was fixed, and what this run could not tell. Failures are keyed by plan and
/// signature.
///
/// A failure is fixed only when a scenario that showed it earlier ran in this run and passed,
/// and no scenario of this run showed it: a plan partly run (a budget, a shard, a nightly's
/// rotation) fixes nothing it did not reach. Findings the engine calls expected behaviour
/// (`FailureGroup.expected`) are never new: they are listed apart.
public struct RunComparison: Sendable {
  public struct Key: Hashable, Comparable, Sendable, Codable {
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
  /// Found earlier (or known), not seen now, and not fixed either: none of the scenarios that
  /// showed it passed in this run (they did not run, or failed otherwise).
  public let unchecked: [Key]
  /// Found now, but expected behaviour of the engine: neither new nor still failing.
  public let expected: [Key]

  /// The failures of `r` that are findings (not the engine's expected behaviour), each with the
  /// keys of the first `keep` scenarios that showed it, in space order.
  public static func evidence(_ r: RunResults, keep: Int = 32) -> [Key: [String]] {
    var out: [Key: [String]] = [:]
    for p in r.plans {
      let sigs = Set(p.failures.filter { !$0.expected }.map(\.signature))
      for g in p.failures where !g.expected { out[Key(plan: p.plan, signature: g.signature)] = [g.first] }
      for s in p.scenarios {
        guard let sig = s.signature, sigs.contains(sig) else { continue }
        let k = Key(plan: p.plan, signature: sig)
        if let have = out[k], have.count < keep, !have.contains(s.key) { out[k]!.append(s.key) }
      }
    }
    return out
  }

  public static func failures(_ r: RunResults) -> Set<Key> { Set(evidence(r).keys) }

  /// - Parameters:
  ///   - now: this run.
  ///   - earlier: failures found before, each with the scenarios that showed them.
  ///   - known: expected failures, each with the scenarios that showed them (may be none: then
  ///     it is never fixed, only unchecked, unless `earlier` has scenarios for it).
  public init(now: RunResults, earlier: [Key: [String]], known: [Key: [String]]) {
    var found = Set<Key>()
    var expectedNow = Set<Key>()
    var outcome: [String: ScenarioEntry.Outcome] = [:]
    for p in now.plans {
      for g in p.failures {
        let k = Key(plan: p.plan, signature: g.signature)
        if g.expected { expectedNow.insert(k) } else { found.insert(k) }
      }
      for s in p.scenarios { outcome[s.key] = s.outcome }
    }
    var before = earlier
    for (k, keys) in known { before[k, default: []] += keys }
    new = found.filter { before[$0] == nil }.sorted()
    still = found.filter { before[$0] != nil }.sorted()
    expected = expectedNow.subtracting(found).sorted()
    var fixed: [Key] = []
    var unchecked: [Key] = []
    for (k, keys) in before where !found.contains(k) && !expectedNow.contains(k) {
      if keys.contains(where: { outcome[$0] == .passed }) { fixed.append(k) } else { unchecked.append(k) }
    }
    self.fixed = fixed.sorted()
    self.unchecked = unchecked.sorted()
  }

  /// `now` against one earlier run and a known list without scenarios.
  public init(now: RunResults, before: RunResults?, known: Set<Key>) {
    var k: [Key: [String]] = [:]
    for key in known { k[key] = [] }
    self.init(now: now, earlier: before.map { Self.evidence($0) } ?? [:], known: k)
  }

  /// What is open after this run: everything found before and not fixed, and everything found
  /// now, each with up to `keep` scenario keys that showed it (this run's first, then earlier).
  public static func carried(now: RunResults, earlier: [Key: [String]], comparison c: RunComparison, keep: Int = 32)
    -> [Key: [String]]
  {
    var out = earlier
    for k in c.fixed { out[k] = nil }
    for (k, keys) in evidence(now) {
      var merged = keys
      for old in earlier[k] ?? [] where !merged.contains(old) { merged.append(old) }
      out[k] = Array(merged.prefix(keep))
    }
    return out
  }
}
