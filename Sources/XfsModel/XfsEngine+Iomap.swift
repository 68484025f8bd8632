import FaultKit
import ModelKernel

/// The iomap buffered-write path of seed 003: iomap_begin reserves delalloc over holes under the
/// ILOCK and stamps the mapping with the fork sequence; the copy goes page by page, revalidating
/// the mapping once the folio is locked (->iomap_valid); iomap_end deals with delalloc a short
/// write reserved but did not fill.
extension XfsEngine {
  /// xfs_buffered_write_iomap_begin for [pos, end): the first extent (or hole) at `pos`; a hole is
  /// filled with a new delalloc reservation (IOMAP_F_NEW).
  func iomapBegin(_ inode: XfsInode, _ pos: UInt64, _ end: UInt64) async throws -> IOMap {
    try await inode.ilock.lockExclusive()
    defer { inode.ilock.unlock() }
    let want = ByteRange(pos, end)
    if let e = inode.extent(at: pos) {
      let r = ByteRange(pos, min(e.range.end, end))
      let kind: IOMap.Kind =
        e.disk.map {
          .written(BlockRange(start: $0.start + (pos - e.range.start) / blockSize, count: r.length / blockSize))
        } ?? .delalloc
      return IOMap(range: r, kind: kind, new: false, seq: inode.seq)
    }
    // A hole up to the next extent: reserve delalloc for it.
    let next = inode.extents(in: want, blockSize: blockSize).first?.range.start ?? end
    let hole = ByteRange(pos, next)
    if case .fail(let e) = try await harness.hit(XfsModel.Point.reserveDelalloc) { throw e }
    guard data.available >= hole.length else { throw FSError(.noSpace) }
    data.mayUse += hole.length
    inode.replace(hole, with: ForkExtent(range: hole, disk: nil), blockSize: blockSize)
    return IOMap(range: hole, kind: .delalloc, new: true, seq: inode.seq)
  }

  /// ->iomap_valid: the mapping still describes the fork (the bug switch skips the check).
  func isValid(_ map: IOMap, _ inode: XfsInode) -> Bool {
    bug("no-iomap-revalidation") || map.seq == inode.seq
  }

  /// iomap_file_buffered_write under i_rwsem: iomap by iomap, page by page. A short copy ends
  /// the write with EFAULT (the bytes before it stay written).
  func write(_ inode: XfsInode, offset: UInt64, length: UInt64, data: WriteData) async throws {
    guard length > 0 else { return }
    let end = offset + length
    let blockEnd = (end + blockSize - 1) / blockSize * blockSize
    try await inode.iolock.lockExclusive()
    var pos = offset
    var failure: FSError?
    for _ in 0..<(blockEnd / blockSize + 64) where pos < end && failure == nil {
      let map: IOMap
      do {
        map = try await iomapBegin(inode, pos / blockSize * blockSize, blockEnd)
      } catch let e as FSError {
        failure = e
        break
      }
      _ = try await harness.hit(XfsModel.Point.iomapMapped)
      var stale = false
      let iterationStart = pos
      let mapEnd = min(map.range.end, end)
      while pos < mapEnd {
        let index = pos / pageSize
        let page = try await inode.mapping.grab(index)
        try await inode.mapping.waitWriteback(page)
        guard isValid(map, inode) else {
          // IOMAP_F_STALE: remap from here, and do not let iomap_end punch.
          inode.mapping.unlock(page)
          stale = true
          break
        }
        let pageStart = index * pageSize
        let chunkEnd = min(mapEnd, pageStart + pageSize)
        if !page.flags.contains(.uptodate) && (pos > pageStart || chunkEnd < pageStart + pageSize) {
          do {
            try await fill(page, inode, using: map)
          } catch let e as FSError {
            inode.mapping.unlock(page)
            failure = e
            break
          }
        }
        var copied = chunkEnd - pos
        switch try await harness.hit(XfsModel.Point.copyUser) {
        case .fail(let e):
          copied = 0
          failure = e
        case .short(let m):
          copied = min(copied, m ?? copied / 2)
          failure = FSError(.fault, injected: harness.lastHit)
        default: break
        }
        if copied < chunkEnd - pos && !page.flags.contains(.uptodate) {
          // iomap_write_end: a short copy into a folio that is not uptodate is thrown away.
          copied = 0
        }
        if copied > 0 {
          let lo = Int(pos - pageStart)
          page.data.withUnsafeMutableBufferPointer { b in
            data.fill(UnsafeMutableBufferPointer(rebasing: b[lo..<lo + Int(copied)]), at: pos)
          }
          if copied == pageSize { page.flags.insert(.uptodate) }
          if page.flags.contains(.uptodate) { page.flags.insert(.dirty) }
          pos += copied
        }
        inode.mapping.unlock(page)
        if failure != nil { break }
      }
      try await iomapEnd(inode, map, from: iterationStart, written: pos, stale: stale)
    }
    precondition(pos >= end || failure != nil, "buffered write of \(inode.path) made no progress at \(pos)")
    inode.size = max(inode.size, pos)
    inode.iolock.unlock()
    if let failure { throw failure }
  }

  /// xfs_buffered_write_iomap_end: a write that did not fill the delalloc it reserved (NEW, not
  /// stale) must not leave it behind unbacked, nor punch delalloc others now rely on.
  /// - fixed: with the invalidate lock held exclusively, walk the page cache over the unused range
  ///   and punch delalloc only where no page holds data;
  /// - `short-write-punches-under-dirty-page`: truncate the page cache over the whole unused range
  ///   (dirty pages of other contexts included) and punch all of it;
  /// - `short-write-leaves-unbacked-delalloc`: keep it all.
  func iomapEnd(_ inode: XfsInode, _ map: IOMap, from iterationStart: UInt64, written pos: UInt64, stale: Bool)
    async throws
  {
    guard map.new, !stale else { return }
    // iomap_last_written_block: nothing written punches from the block holding the start;
    // otherwise from the block after the last byte written.
    let first = pos == iterationStart ? pos / blockSize * blockSize : (pos + blockSize - 1) / blockSize * blockSize
    let start = max(map.range.start, first)
    guard start < map.range.end else { return }
    let unused = ByteRange(start, map.range.end)
    if bug("short-write-leaves-unbacked-delalloc") { return }
    if bug("short-write-punches-under-dirty-page") {
      for index in inode.mapping.indexes where ByteRange(start: index * pageSize, length: pageSize).overlaps(unused) {
        guard let page = inode.mapping.lookup(index) else { continue }
        try await inode.mapping.lock(page)
        inode.mapping.remove(page)
        inode.mapping.unlock(page)
      }
      try await punchDelalloc(inode, unused)
      return
    }
    try await inode.invalidateLock.lockExclusive()
    var holes: [ByteRange] = []
    var b = unused.start
    while b < unused.end {
      let page = inode.mapping.lookup(b / pageSize)
      let hasData = page.map { $0.flags.contains(.dirty) || $0.flags.contains(.writeback) } ?? false
      if !hasData {
        let r = ByteRange(b, min(unused.end, (b / pageSize + 1) * pageSize))
        if let last = holes.last, last.end == r.start {
          holes[holes.count - 1] = ByteRange(last.start, r.end)
        } else {
          holes.append(r)
        }
      }
      b = (b / pageSize + 1) * pageSize
    }
    for h in holes { try await punchDelalloc(inode, h) }
    inode.invalidateLock.unlock()
  }

  /// Removes delalloc (only delalloc) over `r`, returning its reservation.
  func punchDelalloc(_ inode: XfsInode, _ r: ByteRange) async throws {
    try await inode.ilock.lockExclusive()
    for e in inode.extents(in: r, blockSize: blockSize) where e.isDelalloc {
      release(inode.replace(e.range, with: nil, blockSize: blockSize))
    }
    inode.ilock.unlock()
  }

  /// iomap_page_mkwrite via xfs_write_fault: no i_rwsem, the invalidate lock shared; map (and
  /// reserve over a hole), lock the folio, revalidate, dirty it.
  func pageMkwrite(_ inode: XfsInode, offset: UInt64, length: UInt64, data: WriteData) async throws {
    guard length > 0 else { return }
    guard offset + length <= (inode.size + pageSize - 1) / pageSize * pageSize else { throw FSError(.invalid) }  // SIGBUS
    for index in (offset / pageSize)...((offset + length - 1) / pageSize) {
      try await inode.invalidateLock.lockShared()
      let pageRange = ByteRange(start: index * pageSize, length: pageSize)
      var stored = false
      for _ in 0..<64 {
        let map: IOMap
        do {
          map = try await iomapBegin(inode, pageRange.start, pageRange.end)
        } catch let e as FSError {
          inode.invalidateLock.unlock()
          throw e
        }
        _ = try await harness.hit(XfsModel.Point.iomapMapped)
        let page = try await inode.mapping.grab(index)
        try await inode.mapping.waitWriteback(page)
        guard isValid(map, inode) else {
          inode.mapping.unlock(page)
          continue
        }
        do {
          if !page.flags.contains(.uptodate) { try await fill(page, inode, using: map) }
        } catch let e as FSError {
          inode.mapping.unlock(page)
          inode.invalidateLock.unlock()
          throw e
        }
        page.store(data, over: ByteRange(start: offset, length: length))
        page.flags.formUnion([.uptodate, .dirty])
        inode.mapping.unlock(page)
        stored = true
        break
      }
      inode.invalidateLock.unlock()
      // A bound, not a budget: 64 stale mappings in a row means the fork never settles.
      precondition(stored, "page_mkwrite of \(inode.path)#\(index): mapping stale 64 times in a row")
    }
  }
}
