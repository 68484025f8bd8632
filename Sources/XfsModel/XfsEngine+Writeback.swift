import FaultKit
import ModelKernel

/// Writeback, punch and truncate.
extension XfsEngine {
  /// Writes every dirty page of `range`: delalloc under a page is converted to real blocks first
  /// (the whole delalloc extent from that page on, possibly in several allocations); written
  /// blocks are overwritten in place. On ENOSPC the folio is discarded as xfs_discard_folio does:
  /// its delalloc punched, the page cleaned, the error recorded on the mapping. Throws the first
  /// error.
  func writeback(_ inode: XfsInode, range: ByteRange) async throws {
    var first: FSError?
    // Dirty pages, and locked ones: another writeback may have cleared a page's dirty bit and not
    // yet started its I/O (the kernel keeps the dirty tag until then), so wait for its lock too.
    let indexes = inode.mapping.indexes.filter {
      ByteRange(start: $0 * pageSize, length: pageSize).overlaps(range)
        && !inode.mapping.lookup($0)!.flags.isDisjoint(with: [.dirty, .locked])
    }
    for index in indexes {
      guard let page = try await inode.mapping.lockExisting(index) else { continue }
      guard page.flags.contains(.dirty) else {
        inode.mapping.unlock(page)
        continue
      }
      page.flags.remove(.dirty)
      do {
        try await writePage(inode, page)
      } catch let e as FSError {
        first = first ?? e  // writePage has put it on the page and the mapping
      }
      inode.mapping.unlock(page)
    }
    if let first { throw first }
  }

  private func writePage(_ inode: XfsInode, _ page: Page) async throws {
    let pageRange = ByteRange(start: page.index * pageSize, length: pageSize)
    guard pageRange.start < inode.size else { return }  // wholly beyond EOF: nothing to write
    try await inode.ilock.lockExclusive()
    do {
      try await convertDelalloc(inode, from: pageRange.start, through: pageRange.end)
    } catch let e as FSError {
      // xfs_discard_folio: the page's delalloc goes, the page is not written.
      for x in inode.extents(in: pageRange, blockSize: blockSize) where x.isDelalloc {
        release(inode.replace(x.range, with: nil, blockSize: blockSize))
      }
      inode.ilock.unlock()
      page.flags.insert(.error)
      inode.mapping.error = e
      throw e
    }
    let extents = inode.extents(in: pageRange, blockSize: blockSize)
    inode.ilock.unlock()
    page.flags.insert(.writeback)
    var ioError: FSError?
    for e in extents {
      guard let d = e.disk else { continue }
      if case .fail(let err) = try await harness.hit(XfsModel.Point.ioWrite) {
        ioError = err
        continue
      }
      for b in 0..<d.count {
        let lo = Int(e.range.start - pageRange.start + b * blockSize)
        device.write(d.start + b, page.data[lo..<lo + Int(blockSize)])
      }
    }
    // end_io: the error goes on the mapping before writeback ends, so a waiter sees it.
    if let ioError {
      page.flags.insert(.error)
      inode.mapping.error = ioError
    }
    inode.mapping.endWriteback(page)
    if let ioError { throw ioError }
  }

  /// xfs_bmapi_convert_delalloc for the delalloc extent under `offset`: allocate blocks for it
  /// from `offset` to its end (at least through `through`), in as many allocations as free space
  /// demands. Caller holds the ILOCK.
  func convertDelalloc(_ inode: XfsInode, from offset: UInt64, through: UInt64) async throws {
    guard let e = inode.extent(at: offset), e.isDelalloc else { return }
    var cur = offset
    for _ in 0..<(e.range.length / blockSize + 1) where cur < e.range.end {
      let want = (e.range.end - cur) / blockSize
      var maxBlocks: UInt64?
      switch try await harness.hit(XfsModel.Point.allocData) {
      case .fail(let err): throw err
      case .short(let m): maxBlocks = max(1, (m ?? want * blockSize / 2) / blockSize)
      default: break
      }
      // unreachable error path: the buffered write's reservation (reserve.delalloc) holds the
      // space of every block allocated here, so the allocator runs dry only when the space
      // counters are miscounted, which space-balanced reports at rest.
      guard let got = allocator.allocate(want: want, maxBlocks: maxBlocks) else { throw FSError(.noSpace) }
      let r = ByteRange(start: cur, length: got.count * blockSize)
      inode.replace(r, with: ForkExtent(range: r, disk: got), blockSize: blockSize)
      data.mayUse -= r.length
      data.used += r.length
      cur = r.end
      if cur >= through { break }
    }
  }

  /// xfs_free_file_space: i_rwsem and the invalidate lock exclusive; write back and wait, drop
  /// the page cache over the range (zeroing partial pages), free the extents under it.
  func punch(_ inode: XfsInode, _ r: ByteRange) async throws {
    guard !r.isEmpty else { return }
    try await inode.iolock.lockExclusive()
    try await inode.invalidateLock.lockExclusive()
    defer {
      inode.invalidateLock.unlock()
      inode.iolock.unlock()
    }
    try await writeback(inode, range: r)
    try await dropPages(inode, r)
    let blocks = ByteRange((r.start + blockSize - 1) / blockSize * blockSize, r.end / blockSize * blockSize)
    guard !blocks.isEmpty else { return }
    try await inode.ilock.lockExclusive()
    release(inode.replace(blocks, with: nil, blockSize: blockSize))
    inode.ilock.unlock()
  }

  /// truncate_pagecache_range: whole pages go, the part of a partial page inside `r` is zeroed.
  /// A partial page over data that is not cached (or not uptodate) is read in first, as iomap_zero_range (under
  /// xfs_free_file_space) and iomap_truncate_page do: zeroing only cached pages left the old bytes
  /// on disk when the page was cold (found by `faultline explore`, a punch inside a cold file).
  private func dropPages(_ inode: XfsInode, _ r: ByteRange) async throws {
    var partial: [UInt64] = []
    if r.start % pageSize != 0 { partial.append(r.start / pageSize) }
    if r.end % pageSize != 0, r.end < UInt64.max / 2, !partial.contains(r.end / pageSize) {
      partial.append(r.end / pageSize)
    }
    for index in partial where !(inode.mapping.lookup(index)?.flags.contains(.uptodate) ?? false) {
      guard let cut = ByteRange(start: index * pageSize, length: pageSize).intersection(r),
        hasData(inode, cut)
      else { continue }
      // Absent, or cached but not uptodate (a read-in that failed leaves such a page).
      let page = inode.mapping.findOrCreate(index)
      try await inode.mapping.lock(page)
      do {
        if !page.flags.contains(.uptodate) { try await fill(page, inode) }
      } catch let e as FSError {
        inode.mapping.unlock(page)
        inode.mapping.remove(page)
        throw e
      }
      inode.mapping.unlock(page)
    }
    for index in inode.mapping.indexes {
      let pr = ByteRange(start: index * pageSize, length: pageSize)
      guard pr.overlaps(r), let page = inode.mapping.lookup(index) else { continue }
      try await inode.mapping.lock(page)
      try await inode.mapping.waitWriteback(page)
      if r.contains(pr) {
        inode.mapping.remove(page)
      } else if let cut = pr.intersection(r) {
        // The block stays; its zeroed part must reach the disk like any other change.
        let lo = Int(cut.start - pr.start)
        page.data.replaceSubrange(lo..<lo + Int(cut.length), with: repeatElement(0, count: Int(cut.length)))
        if page.flags.contains(.uptodate) && hasData(inode, cut) { page.flags.insert(.dirty) }
      }
      inode.mapping.unlock(page)
    }
  }

  /// Whether a block of `r` is mapped (written, unwritten or delalloc): zeroing there must reach
  /// the file. Bounded by the blocks of `r` (a page's part).
  private func hasData(_ inode: XfsInode, _ r: ByteRange) -> Bool {
    stride(from: r.start / blockSize * blockSize, to: r.end, by: Int(blockSize)).contains {
      inode.extent(at: $0) != nil
    }
  }

  /// xfs_setattr_size: i_rwsem and the invalidate lock exclusive; shrinking drops the pages and
  /// blocks beyond the new size (the partial last page keeps its head).
  func truncate(_ inode: XfsInode, to size: UInt64) async throws {
    try await inode.iolock.lockExclusive()
    try await inode.invalidateLock.lockExclusive()
    defer {
      inode.invalidateLock.unlock()
      inode.iolock.unlock()
    }
    if size < inode.size {
      // Only the block holding the new end of file keeps data: write that one back.
      if size % blockSize != 0 {
        try await writeback(inode, range: ByteRange(start: size / blockSize * blockSize, length: blockSize))
      }
      try await dropPages(inode, ByteRange(size, UInt64.max / 2))
      try await inode.ilock.lockExclusive()
      release(
        inode.replace(
          ByteRange((size + blockSize - 1) / blockSize * blockSize, UInt64.max / 2), with: nil, blockSize: blockSize))
      inode.ilock.unlock()
    }
    inode.size = size
  }
}
