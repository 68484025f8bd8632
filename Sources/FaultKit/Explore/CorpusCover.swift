/// The corpus `faultline explore` writes: a small set of plans that together reach every item
/// reached so far, chosen greedily (the plan adding the most items not yet covered, ties to the
/// earliest candidate), which is within a factor ln(n) of the smallest such set.
public enum CorpusCover {
  /// One chosen plan: its index among the candidates and the items it was chosen for (not
  /// covered by those chosen before it), sorted.
  public struct Pick: Sendable, Hashable {
    public let candidate: Int
    public let adds: [String]
  }

  /// Picks from `candidates` (each a set of items) until every item of their union is covered.
  /// Deterministic: ties go to the lower index.
  public static func choose(_ candidates: [Set<String>]) -> [Pick] {
    var uncovered = candidates.reduce(into: Set<String>()) { $0.formUnion($1) }
    var picks: [Pick] = []
    var used = Set<Int>()
    // Bounded: each pass covers at least one item or stops.
    while !uncovered.isEmpty && picks.count < candidates.count {
      var best = -1
      var bestCount = 0
      for (i, c) in candidates.enumerated() where !used.contains(i) {
        let n = c.intersection(uncovered).count
        if n > bestCount {
          best = i
          bestCount = n
        }
      }
      guard best >= 0 else { break }
      let adds = candidates[best].intersection(uncovered)
      uncovered.subtract(adds)
      used.insert(best)
      picks.append(Pick(candidate: best, adds: adds.sorted()))
    }
    return picks
  }
}
