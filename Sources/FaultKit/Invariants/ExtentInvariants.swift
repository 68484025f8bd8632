/// `ordered-extents-complete`: no ordered extent is pending at rest.
public struct OrderedExtentsComplete: Invariant {
  public init() {}
  public let name = InvariantName.orderedExtentsComplete
  public let checks = "At rest: the snapshot has no ordered extent (every one completed or was cleaned up on error)."
  public let doesNotCheck =
    "Ordered extents in flight right after a failed operation: workers may still be finishing them."

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let pending = c.current.extents.filter { $0.source == .ordered }
    guard !pending.isEmpty else { return [] }
    let files = Set(pending.map(\.file)).sorted()
    return [
      Violation(
        name, moment: c.moment,
        "\(pending.count) ordered extent(s) never completed: " + pending.map(\.line).joined(separator: "; "),
        evidence: files.flatMap { c.diff.lines(about: "ordered \($0)") })
    ]
  }
}

/// `extent-cache-coherent`: the extent cache agrees with the tree.
public struct ExtentCacheCoherent: Invariant {
  public init() {}
  public let name = InvariantName.extentCacheCoherent
  public let checks = """
    At rest: every cached extent maps as the tree does: a cached mapping is inside one tree extent \
    at the same disk offset; a cached hole overlaps no tree extent.
    """
  public let doesNotCheck =
    "Delayed and unwritten cache entries (state other than written or hole); engines with no cache pass vacuously."

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let tree = c.current.extents.filter { $0.source == .tree }
    var bad: [String] = []
    for e in c.current.extents where e.source == .cache {
      let overlapping = tree.filter { $0.file == e.file && $0.range.overlaps(e.range) }
      if e.state == "hole" {
        if let t = overlapping.first { bad.append("cached hole \(e.file) \(e.range) but the tree maps \(t.line)") }
      } else if e.state == "written" || e.state.isEmpty {
        let agrees = overlapping.contains { t in
          guard t.range.contains(e.range), let td = t.disk, let ed = e.disk, let bs = Self.blockSize(t) else {
            return false
          }
          return td.start + (e.range.start - t.range.start) / bs == ed.start
        }
        if !agrees {
          bad.append("cached \(e.line) disagrees with the tree (\(overlapping.map(\.line).joined(separator: "; ")))")
        }
      }
    }
    return bad.map { Violation(name, moment: c.moment, $0, evidence: c.diff.lines(about: "cache")) }
  }

  static func blockSize(_ t: ExtentRecord) -> UInt64? {
    guard let d = t.disk, d.count > 0 else { return nil }
    return t.range.length / d.count
  }
}

/// `no-double-allocation`: no block is mapped twice, no mapped block is free.
public struct NoDoubleAllocation: Invariant {
  public init() {}
  public let name = InvariantName.noDoubleAllocation
  public let checks =
    "Always: disk ranges of tree and ordered extents are pairwise disjoint and none overlaps the allocator's free space."
  public let doesNotCheck =
    "Metadata blocks (the models keep metadata off the data allocator) and leaks (allocated blocks nobody maps: space-balanced's business)."

  public func check(_ c: InvariantContext) -> [Violation] {
    var mapped: [(BlockRange, String)] = c.current.extents.compactMap { e in
      guard e.source == .tree || e.source == .ordered, let d = e.disk else { return nil }
      return (d, e.line)
    }
    mapped.sort { $0.0.start < $1.0.start }
    var bad: [String] = []
    for i in mapped.indices.dropFirst() where mapped[i - 1].0.overlaps(mapped[i].0) {
      bad.append("\(mapped[i - 1].1) and \(mapped[i].1) share blocks")
    }
    // Free ranges are sorted: walk both lists.
    var j = 0
    let free = c.current.free
    for (r, line) in mapped {
      while j < free.count && free[j].end <= r.start { j += 1 }
      var k = j
      while k < free.count && free[k].start < r.end {
        if free[k].overlaps(r) { bad.append("\(line) maps \(free[k]) which the allocator has free") }
        k += 1
      }
    }
    return bad.map { Violation(name, moment: c.moment, $0, evidence: c.diff.lines(in: .extent)) }
  }
}

/// `pagecache-coherent`: a buffered read returns what is on disk.
public struct PagecacheCoherent: Invariant {
  public init() {}
  public let name = InvariantName.pagecacheCoherent
  public let checks = """
    At rest: every clean, uptodate cached page over blocks the file maps (in the tree or an ordered \
    extent) holds the bytes those blocks hold, so a buffered read after direct I/O returns what is \
    on disk.
    """
  public let doesNotCheck = """
    Dirty pages and pages under writeback (newer than the disk by design), pages with PG_error \
    (data a failed writeback did not store: errors-reported's business), pages over holes.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let stale = c.current.pages.filter { $0.diskAgrees == false }
    guard !stale.isEmpty else { return [] }
    let names = stale.map(\.name).joined(separator: ", ")
    return [
      Violation(
        name, moment: c.moment,
        "\(stale.count == 1 ? "page" : "pages") \(names) cached clean but \(stale.count == 1 ? "differs" : "differ") from the disk: a buffered read returns stale bytes",
        evidence: stale.flatMap { c.diff.lines(about: "page \($0.name)") })
    ]
  }
}
