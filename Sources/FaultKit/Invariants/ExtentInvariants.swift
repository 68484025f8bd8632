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
    At rest, every cache entry against the tree: a cached written or unwritten mapping lies inside \
    one tree extent, at the same disk offset, in the same state (a cached unwritten mapping over \
    a written tree extent reads zeros over data; a cached written one over an unwritten extent \
    reads blocks never written); a cached hole or delayed entry overlaps no tree extent (a \
    delayed block that the tree maps would be allocated a second time by writeback).
    """
  public let doesNotCheck = """
    Entries in states other than written, unwritten, delayed and hole (an engine's own words), \
    whether a delayed entry has a dirty page and a reservation over it (delalloc-backed and \
    space-balanced), what the cache does not know (a miss is never wrong), and the cache between \
    operations: only at rest. Engines with no cache pass vacuously.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let tree = c.current.extents.filter { $0.source == .tree }
    var bad: [String] = []
    for e in c.current.extents where e.source == .cache {
      let overlapping = tree.filter { $0.file == e.file && $0.range.overlaps(e.range) }
      switch e.state {
      case "hole", "delayed":
        if let t = overlapping.first {
          bad.append("cached \(e.state) \(e.file) \(e.range) but the tree maps \(t.line)")
        }
      case "written", "", "unwritten":
        let unwritten = e.state == "unwritten"
        let agrees = overlapping.contains { t in
          guard t.range.contains(e.range), (t.state == "unwritten") == unwritten, let td = t.disk, let ed = e.disk,
            let bs = Self.blockSize(t)
          else { return false }
          return td.start + (e.range.start - t.range.start) / bs == ed.start
        }
        if !agrees {
          let tree = overlapping.isEmpty ? "it maps nothing there" : overlapping.map(\.line).joined(separator: "; ")
          bad.append("cached \(e.line) disagrees with the tree (\(tree))")
        }
      default:
        continue
      }
    }
    return bad.map { Violation(name, moment: c.moment, $0, evidence: c.diff.lines(about: "cache")) }
  }

  static func blockSize(_ t: ExtentRecord) -> UInt64? {
    guard let d = t.disk, d.count > 0, t.range.length >= d.count else { return nil }
    return t.range.length / d.count
  }
}

/// `no-double-allocation`: no block is mapped twice, no mapped block is free.
public struct NoDoubleAllocation: Invariant {
  public init() {}
  public let name = InvariantName.noDoubleAllocation
  public let checks = """
    Always: no device block is mapped by two different file locations, counting tree extents, \
    ordered extents and extent-cache entries that map blocks, written or unwritten (what a later \
    lookup would trust: writeback writes through an unwritten entry, a read of a written one \
    returns the block); a cache entry that maps the same file offset to the same block as a tree \
    extent is one mapping, not two. No tree or ordered extent maps a block the allocator has free.
    """
  public let doesNotCheck = """
    Metadata blocks (the models keep metadata off the data allocator), leaks (allocated blocks \
    nobody maps: space-balanced's business), and cache entries over free blocks (stale, but \
    extent-cache-coherent's finding until the blocks are reused).
    """

  /// An extent record that maps blocks, by its index in the snapshot (a fragmented filesystem has
  /// thousands per snapshot: no copies, and its text made only for what is reported or to order
  /// two mappings that start at one block).
  struct Mapping {
    let disk: BlockRange
    let index: Int
  }

  public func check(_ c: InvariantContext) -> [Violation] {
    let extents = c.current.extents
    var mapped: [Mapping] = []
    for (i, e) in extents.enumerated() {
      let counts =
        e.source == .tree || e.source == .ordered
        || (e.source == .cache && (e.state == "written" || e.state == "unwritten" || e.state.isEmpty))
      guard counts, let d = e.disk, d.count > 0 else { continue }
      mapped.append(Mapping(disk: d, index: i))
    }
    func line(_ m: Mapping) -> String { extents[m.index].line }
    /// The file offset mapping `m` gives block `b`.
    func offset(_ m: Mapping, _ b: UInt64) -> UInt64 {
      let r = extents[m.index].range
      return r.start + (b - m.disk.start) * (r.length / m.disk.count)
    }
    mapped.sort { $0.disk.start != $1.disk.start ? $0.disk.start < $1.disk.start : line($0) < line($1) }
    var bad: [String] = []
    for i in mapped.indices {
      for j in (i + 1)..<mapped.count {
        guard mapped[j].disk.start < mapped[i].disk.end else { break }
        let lo = max(mapped[i].disk.start, mapped[j].disk.start)
        let same =
          extents[mapped[i].index].file == extents[mapped[j].index].file
          && offset(mapped[i], lo) == offset(mapped[j], lo)
        if !same { bad.append("\(line(mapped[i])) and \(line(mapped[j])) share blocks") }
      }
    }
    // Free ranges are sorted: walk both lists (tree and ordered extents only).
    var k = 0
    let free = c.current.free
    for m in mapped where extents[m.index].source != .cache {
      while k < free.count && free[k].end <= m.disk.start { k += 1 }
      var f = k
      while f < free.count && free[f].start < m.disk.end {
        if free[f].overlaps(m.disk) {
          let lo = max(free[f].start, m.disk.start)
          let both = BlockRange(start: lo, count: min(free[f].end, m.disk.end) - lo)
          bad.append("\(line(m)) maps \(both), which the allocator has free")
        }
        f += 1
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
