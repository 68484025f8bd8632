/// `space-balanced`: space counters add up and reservations return.
public struct SpaceBalanced: Invariant {
  public init() {}
  public let name = InvariantName.spaceBalanced
  public let checks = """
    Always: free + used + reserved = total for every space, where the engine keeps used and \
    reserved as it goes and free comes from elsewhere (the model engines: the allocator's free map \
    for data, what the fs tree's items leave for btrfs metadata), summed without wrapping; no \
    counter was taken below zero (an engine that records such an attempt in `underflows`). When \
    the engine accounts every block (`deviceBlocks`), every device block is exactly one of free, \
    mapped by a tree or ordered extent, pinned (superblock, metadata, freed until commit, \
    allocated and not yet in a tree) or filler: a block in none is leaked (e2fsck's block bitmap \
    differences), a block in two is claimed twice. At rest: for the data space, may-use equals the \
    delalloc bytes and reserved equals the ordered-extent bytes; for other spaces, may-use and \
    reserved are back at their baseline.
    """
  public let doesNotCheck = """
    Whether an engine's free really is independent of its counters (an engine that computes free \
    as total - used - reserved passes the sum by construction; the model engines do not), the \
    amount reserved per operation, whether a pinned run's reason is true, and blocks mapped twice \
    or both mapped and free (no-double-allocation's findings). Blocks an unlinked inode still \
    maps (an ext4 orphan whose eviction failed, reported as the tree extents of `orphan inode N \
    (was /path)`, a file with no name) count as mapped, not leaked: whether the next mount's \
    orphan processing frees them is not judged (nothing is judged after recover). Engines that \
    do not set deviceBlocks get no block accounting.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    var out: [Violation] = []
    let blocks = BlockOwnership.problems(c.current)
    if !blocks.isEmpty {
      let evidence = c.diff.lines(in: .space)
      out += blocks.map { Violation(name, moment: c.moment, $0, evidence: evidence) }
    }
    for s in c.current.space {
      let evidence = c.diff.lines(about: "space \(s.name)")
      let (a, o1) = s.free.addingReportingOverflow(s.used)
      let (sum, o2) = a.addingReportingOverflow(s.reserved)
      if o1 || o2 || sum != s.total {
        out.append(
          Violation(
            name, moment: c.moment,
            "space \(s.name): free \(s.free) + used \(s.used) + reserved \(s.reserved) "
              + (o1 || o2 ? "overflows 64 bits" : "!= total \(s.total)"),
            evidence: evidence))
      }
      for u in s.underflows ?? [] {
        out.append(
          Violation(name, moment: c.moment, "space \(s.name): counter went below zero: \(u)", evidence: evidence))
      }
      guard c.moment.isAtRest else { continue }
      if s.backsData {
        let delalloc = Self.bytes(c.current.extents.filter { $0.source == .delalloc })
        let ordered = Self.bytes(c.current.extents.filter { $0.source == .ordered && $0.disk != nil })
        if s.mayUse != delalloc {
          out.append(
            Violation(
              name, moment: c.moment,
              "space \(s.name): may-use \(Size.format(s.mayUse)) but delalloc is \(Size.format(delalloc))",
              evidence: evidence))
        }
        if s.reserved != ordered {
          out.append(
            Violation(
              name, moment: c.moment,
              "space \(s.name): reserved \(Size.format(s.reserved)) but ordered extents hold \(Size.format(ordered))",
              evidence: evidence))
        }
      } else if let b = c.baseline.space.first(where: { $0.name == s.name }) {
        if s.mayUse != b.mayUse || s.reserved != b.reserved {
          out.append(
            Violation(
              name, moment: c.moment,
              "space \(s.name): may-use/reserved \(Size.format(s.mayUse))/\(Size.format(s.reserved)), baseline \(Size.format(b.mayUse))/\(Size.format(b.reserved))",
              evidence: evidence))
        }
      }
    }
    return out
  }

  /// The bytes the extents cover, saturating (a C engine's ranges are not trusted to be sane).
  static func bytes(_ extents: [ExtentRecord]) -> UInt64 {
    extents.reduce(0) { acc, e in
      let (s, o) = acc.addingReportingOverflow(e.range.isEmpty ? 0 : e.range.length)
      return o ? .max : s
    }
  }
}

/// `delalloc-backed`: delalloc and dirty pages back each other.
public struct DelallocBacked: Invariant {
  public init() {}
  public let name = InvariantName.delallocBacked
  public let checks = """
    At rest: every page of a delalloc extent that lies within EOF is cached and dirty (or under \
    writeback); every dirty page lies over delalloc, an ordered extent, or (unless data is \
    copy-on-write) a tree extent.
    """
  public let doesNotCheck = """
    Delalloc beyond EOF (speculative preallocation is legal), the amount reserved per page, and \
    dirty pages marked PG_checked (handed to a fixup worker that will reserve for them). A page \
    dirtied behind the filesystem's back that no writeback has seen yet is unbacked by \
    definition: plans flush such pages before rest.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let ps = c.current.pageSize
    var out: [Violation] = []
    var pages: [String: [UInt64: PageFlags]] = [:]
    for p in c.current.pages { pages[p.file, default: [:]][p.index] = p.flags }
    let sizes = Dictionary(uniqueKeysWithValues: c.current.files.map { ($0.path, $0.size) })
    let delalloc = c.current.extents.filter { $0.source == .delalloc }
    for e in delalloc {
      let eof = sizes[e.file] ?? 0
      guard e.range.start < eof, !e.range.isEmpty else { continue }
      let last = (min(e.range.end, eof) - 1) / ps
      var unbacked: [UInt64] = []
      for i in (e.range.start / ps)...last {
        let f = pages[e.file]?[i] ?? []
        if !f.contains(.dirty) && !f.contains(.writeback) { unbacked.append(i) }
      }
      if !unbacked.isEmpty {
        out.append(
          Violation(
            name, moment: c.moment,
            "delalloc \(e.file) \(e.range) within EOF has no dirty page over page(s) \(unbacked.map(String.init).joined(separator: ", "))",
            evidence: c.diff.lines(about: "delalloc \(e.file)")
              + unbacked.flatMap { c.diff.lines(about: "page \(e.file)#\($0)") }))
      }
    }
    let mapped = c.current.extents.filter {
      $0.source == .delalloc || $0.source == .ordered || ($0.source == .tree && !c.current.copyOnWrite)
    }
    var bare: [PageRecord] = []
    for p in c.current.pages where p.flags.contains(.dirty) && !p.flags.contains(.checked) {
      let r = ByteRange(start: p.index * ps, length: ps)
      if !mapped.contains(where: { $0.file == p.file && $0.range.overlaps(r) }) { bare.append(p) }
    }
    if !bare.isEmpty {
      let names = bare.map(\.name).joined(separator: ", ")
      out.append(
        Violation(
          name, moment: c.moment,
          "\(bare.count == 1 ? "page" : "pages") \(names) dirty with nothing under \(bare.count == 1 ? "it" : "them") (no delalloc reservation, no ordered extent\(c.current.copyOnWrite ? "; data is copy-on-write" : ", no extent"))",
          evidence: bare.flatMap { c.diff.lines(about: "page \($0.name)") }))
    }
    return out
  }
}

/// The snapshot invariants FaultKit implements for every engine.
public enum SharedInvariants {
  public static let all: [any Invariant] = [
    LocksReleased(), NoHang(), SpaceBalanced(), OrderedExtentsComplete(), ExtentCacheCoherent(),
    DelallocBacked(), NoDoubleAllocation(), PagecacheCoherent(), UnlockByOwner(),
    NoBadPageState(),
  ]
}
