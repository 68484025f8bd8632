/// Whether each clean, uptodate cached page holds what the disk holds under it: computed here,
/// for every engine alike, from the snapshot (pages and their flags, tree and ordered extents,
/// file sizes) and the bytes the engine exposes (`Engine.pageBytes`, `Engine.blockBytes`), rather
/// than from a flag each engine computed its own way. What `pagecache-coherent` then judges.
///
/// The rule: a page that is uptodate and neither dirty, under writeback, locked nor marked with an
/// error is what a buffered read returns, so its bytes within EOF must equal the disk's: the
/// blocks of an ordered extent over them (newer than the tree's), else of a written tree extent,
/// and zeros over an unwritten one. Bytes past EOF are not compared (a read never returns them).
/// A page with any part over a hole or delalloc within EOF has nothing on disk to agree with and
/// is not compared (`diskAgrees` nil).
enum PagecacheAgreement {
  /// Sets `diskAgrees` on every page of `s` (nil where not compared). Returns what could not be
  /// read (a page the snapshot lists whose bytes the engine does not give, a block likewise).
  static func mark(
    _ s: inout Snapshot, pageBytes: (String, UInt64) -> [UInt8]?, blockBytes: (UInt64) -> [UInt8]?
  ) -> [String] {
    var unreadable: [String] = []
    let ps = s.pageSize
    var sizes: [String: UInt64] = [:]
    for f in s.files { sizes[f.path] = f.size }
    var byFile: [String: [ExtentRecord]] = [:]
    for e in s.extents where e.source != .cache { byFile[e.file, default: []].append(e) }
    for k in s.pages.indices {
      let p = s.pages[k]
      s.pages[k].diskAgrees = nil
      guard p.flags.contains(.uptodate), p.flags.isDisjoint(with: [.dirty, .writeback, .error, .locked]) else {
        continue
      }
      let start = p.index * ps
      let end = min(start + ps, sizes[p.file] ?? 0)
      guard start < end else { continue }
      guard let page = pageBytes(p.file, p.index), UInt64(page.count) == ps else {
        unreadable.append("the bytes of page \(p.name), which the snapshot lists as cached")
        continue
      }
      switch compare(page, start, end, byFile[p.file] ?? [], blockBytes) {
      case .agrees: s.pages[k].diskAgrees = true
      case .differs: s.pages[k].diskAgrees = false
      case .notCompared: break
      case .blockUnreadable(let b): unreadable.append("block \(b) under page \(p.name)")
      }
    }
    return unreadable
  }

  enum Verdict {
    case agrees, differs, notCompared
    case blockUnreadable(UInt64)
  }

  /// Compares page bytes for file offsets [start, end) with what the extents map there.
  static func compare(
    _ page: [UInt8], _ start: UInt64, _ end: UInt64, _ extents: [ExtentRecord], _ blockBytes: (UInt64) -> [UInt8]?
  ) -> Verdict {
    var at = start
    var differs = false
    // Each pass covers at least one byte or returns: bounded by the page size.
    while at < end {
      let ordered = extents.first {
        $0.source == .ordered && $0.disk != nil && $0.range.start <= at && at < $0.range.end
      }
      let tree = extents.first { $0.source == .tree && $0.range.start <= at && at < $0.range.end }
      guard let e = ordered ?? tree else { return .notCompared }  // a hole, or delalloc only
      let upto = min(end, e.range.end)
      let lo = Int(at - start)
      let n = Int(upto - at)
      if e.state == "unwritten" || e.disk == nil {
        if e.disk == nil { return .notCompared }
        if page[lo..<lo + n].contains(where: { $0 != 0 }) { differs = true }
      } else {
        let d = e.disk!
        guard d.count > 0, e.range.length % d.count == 0 else { return .notCompared }
        let bs = e.range.length / d.count
        var off = at
        while off < upto {
          let block = d.start + (off - e.range.start) / bs
          guard let bytes = blockBytes(block), UInt64(bytes.count) == bs else { return .blockUnreadable(block) }
          let inBlock = Int((off - e.range.start) % bs)
          let take = Int(min(upto - off, bs - UInt64(inBlock)))
          let p0 = Int(off - start)
          if !page[p0..<p0 + take].elementsEqual(bytes[inBlock..<inBlock + take]) { differs = true }
          off += UInt64(take)
        }
      }
      at = upto
    }
    return differs ? .differs : .agrees
  }
}
