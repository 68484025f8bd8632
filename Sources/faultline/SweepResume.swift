import FaultKit
import Foundation

/// What a sweep's journal says is done, for `--resume`: which scenarios ran, each signature's
/// first result so far, and how many. The journal is read a line at a time, and a scenario's key
/// is kept as a 128-bit hash, so a resumed sweep of millions of scenarios holds megabytes.
struct SweepResume {
  /// A scenario key, hashed twice over (SipHash, seeded per process): 16 bytes a scenario.
  struct KeyHash: Hashable {
    let a: Int
    let b: Int
    init(_ key: String) {
      var h = Hasher()
      h.combine(0)
      h.combine(key)
      a = h.finalize()
      var g = Hasher()
      g.combine(1)
      g.combine(key)
      b = g.finalize()
    }
  }

  private(set) var done = Set<KeyHash>()
  var firstResults = FirstResults()
  private(set) var count = 0
  /// How many of them failed, and how many could not be judged (what the progress line counts
  /// on from).
  private(set) var failed = 0
  private(set) var unjudged = 0
  let url: URL

  init(journal url: URL) throws {
    self.url = url
    var done = Set<KeyHash>()
    var first = FirstResults()
    var count = 0
    var failed = 0
    var unjudged = 0
    try SweepJournal.forEach(url) { o in
      done.insert(KeyHash(o.scenario.key))
      _ = first.keep(o)
      count += 1
      if o.unjudged == true { unjudged += 1 } else if o.failed { failed += 1 }
    }
    self.done = done
    firstResults = first
    self.count = count
    self.failed = failed
    self.unjudged = unjudged
  }

  func isDone(_ key: String) -> Bool { !done.isEmpty && done.contains(KeyHash(key)) }

  /// The depth-2 children (and explored schedules) of journaled scenarios that have not run: a
  /// second read of the journal. The sweep runs children first, so a killed sweep leaves few.
  func pendingChildren(_ driver: SweepDriver) throws -> [SweepScenario] {
    guard count > 0 else { return [] }
    var out: [SweepScenario] = []
    try SweepJournal.forEach(url) { o in
      guard o.children != nil || o.schedules != nil else { return }
      out += driver.children(of: o).filter { !isDone($0.key) }
    }
    return out
  }
}
