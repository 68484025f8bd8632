/// Every device block has exactly one owner: free (the allocator's map), mapped (a tree or
/// ordered extent), pinned (superblock, metadata, journal, freed until commit…) or filler. What
/// e2fsck calls block bitmap differences: a block in none is leaked (allocated, owned by nobody),
/// a block in two is claimed twice. Judged only for a snapshot whose engine says it accounts
/// every block (`deviceBlocks`); `space-balanced` reports what this finds.
enum BlockOwnership {
  enum Owner: Int, Comparable, CaseIterable {
    case free, mapped, pinned, filler
    static func < (a: Owner, b: Owner) -> Bool { a.rawValue < b.rawValue }
  }

  /// One claim on a run of blocks (plain values: no reference counting on this hot path).
  struct Claim {
    let start: UInt64
    let end: UInt64
    let owner: Owner
    /// For pinned runs: the index of its record in `Snapshot.pinned` (why it is pinned).
    let pin: Int
  }

  /// The runs owned by no one or by two different owners, as sentences, in block order. Mapped
  /// twice and mapped-and-free are no-double-allocation's findings and not repeated here.
  static func problems(_ s: Snapshot) -> [String] {
    guard let device = s.deviceBlocks else { return [] }
    var claims: [Claim] = []
    claims.reserveCapacity(s.free.count + s.extents.count + s.pinned.count + s.filler.count)
    func claim(_ r: BlockRange, _ owner: Owner, _ pin: Int = -1) {
      // A C engine's ranges are not trusted to fit in 64 bits.
      let (end, overflow) = r.start.addingReportingOverflow(r.count)
      claims.append(Claim(start: r.start, end: overflow ? .max : end, owner: owner, pin: pin))
    }
    for r in s.free { claim(r, .free) }
    for e in s.extents where e.source == .tree || e.source == .ordered {
      if let d = e.disk, d.count > 0 { claim(d, .mapped) }
    }
    for (i, p) in s.pinned.enumerated() { claim(p.range, .pinned, i) }
    for r in s.filler { claim(r, .filler) }
    func word(_ c: Claim) -> String {
      switch c.owner {
      case .free: "free"
      case .mapped: "mapped by a file"
      case .pinned: "pinned (\(s.pinned[c.pin].why))"
      case .filler: "filler"
      }
    }
    var out: [String] = []
    for c in claims where c.end > device {
      out.append("\(word(c)) run from block \(c.start) lies beyond the device's \(device) blocks")
    }
    // The part of a claim inside the device still counts (a run that straddles the end is said
    // above, and its blocks within are owned, not leaked).
    claims = claims.compactMap { c in
      c.start < device ? Claim(start: c.start, end: min(c.end, device), owner: c.owner, pin: c.pin) : nil
    }
    // Sweep the boundaries in order; between two, the claims that cover the segment.
    var bounds: [UInt64] = [0, device]
    bounds.reserveCapacity(2 * claims.count + 2)
    for c in claims where c.start < c.end && c.end <= device { bounds += [c.start, c.end] }
    bounds.sort()
    var edges: [UInt64] = []
    for b in bounds where edges.last != b { edges.append(b) }
    let ordered = claims.filter { $0.start < $0.end && $0.end <= device }.sorted { $0.start < $1.start }
    var active: [Claim] = []
    var next = 0
    var pending: (range: BlockRange, text: String)?
    func flush() {
      if let p = pending { out.append("\(p.range) \(p.text)") }
      pending = nil
    }
    func note(_ lo: UInt64, _ hi: UInt64, _ text: String) {
      if let p = pending, p.range.end == lo, p.text == text {
        pending = (BlockRange(start: p.range.start, count: hi - p.range.start), text)
      } else {
        flush()
        pending = (BlockRange(start: lo, count: hi - lo), text)
      }
    }
    for i in edges.indices.dropLast() {
      let lo = edges[i]
      let hi = edges[i + 1]
      active.removeAll { $0.end <= lo }
      while next < ordered.count && ordered[next].start <= lo {
        if ordered[next].end > lo { active.append(ordered[next]) }
        next += 1
      }
      // The owners of the segment as a bit mask (every snapshot of every scenario comes here).
      var mask = 0
      for c in active { mask |= 1 << c.owner.rawValue }
      let freeAndMapped = 1 << Owner.free.rawValue | 1 << Owner.mapped.rawValue
      if mask == 0 {
        note(lo, hi, "allocated but owned by nobody (not free, mapped, pinned or filler): leaked")
      } else if mask.nonzeroBitCount > 1 && mask != freeAndMapped {
        let owners = Owner.allCases.filter { mask & (1 << $0.rawValue) != 0 }
        let names = owners.map { o in word(active.first { $0.owner == o }!) }
        note(lo, hi, "both \(names.joined(separator: " and "))")
      } else {
        flush()
      }
    }
    flush()
    return out
  }

}
