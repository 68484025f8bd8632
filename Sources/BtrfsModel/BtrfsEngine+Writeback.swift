import FaultKit
import ModelKernel

/// The writeback path of seed 000: extent_write_cache_pages → writepage_delalloc →
/// cow_file_range, then I/O submission and the endio worker's finish_ordered_io.
///
/// The model always takes cow_file_range's `unlock=0` path (as zoned btrfs and
/// submit_uncompressed_range do): the pages of the delalloc range stay locked for the caller,
/// which writes them out itself. That is the path on which the thread's bug lives.
extension BtrfsEngine {
  /// filemap_fdatawrite_range: writes every dirty page in `range`; throws the first error.
  /// Returns how many pages were left dirty for the fixup worker.
  func filemapWrite(_ inode: BtrfsInode, range: ByteRange) async throws -> Int {
    let ps = kernel.pageSize
    var first: FSError?
    var awaitingFixup = 0
    // The dirty pages at the start; pages written by an earlier run are clean when reached.
    let indexes = inode.mapping.indexes.filter { i in
      ByteRange(start: i * ps, length: ps).overlaps(range) && inode.mapping.lookup(i)!.flags.contains(.dirty)
    }
    for index in indexes {
      guard let page = try await inode.mapping.lockExisting(index) else { continue }
      guard page.flags.contains(.dirty) else {
        inode.mapping.unlock(page)
        continue
      }
      try await inode.mapping.waitWriteback(page)
      page.flags.remove(.dirty)  // clear_page_dirty_for_io
      do {
        if try await writepage(inode, page) == .awaitingFixup { awaitingFixup += 1 }
      } catch let e as FSError {
        first = first ?? e
        break
      }
    }
    if let first { throw first }
    return awaitingFixup
  }

  enum WritepageResult { case submitted, awaitingFixup }

  /// __extent_writepage for a locked dirty page: runs delalloc from this page, then submits.
  /// On error: the page gets PG_error, the mapping records the error, the page is unlocked.
  func writepage(_ inode: BtrfsInode, _ page: Page) async throws -> WritepageResult {
    let ps = kernel.pageSize
    let pageRange = ByteRange(start: page.index * ps, length: ps)
    guard let run = inode.ioTree.run(with: .delalloc, containing: pageRange.start) else {
      // Dirty without delalloc: dirtied behind btrfs's back (an mmap store, a migration).
      try await cowFixup(inode, page)
      return .awaitingFixup
    }
    var range = ByteRange(pageRange.start, run.end)
    do {
      // find_lock_delalloc_range: lock the other pages of the range, then the extent range.
      var locked: [Page] = [page]
      for i in (range.start / ps + 1)..<(range.end / ps) {
        guard let p = inode.mapping.lookup(i) else { continue }
        try await inode.mapping.lock(p)
        locked.append(p)
      }
      try await inode.ioTree.lock(range)
      // Still delalloc? Another writeback may have taken part of the run while this one waited
      // for page locks (find_lock_delalloc_range re-tests under the locks and shrinks).
      let still =
        inode.ioTree.run(with: .delalloc, containing: range.start).map { min($0.end, range.end) } ?? range.start
      if still < range.end {
        inode.ioTree.unlock(ByteRange(still, range.end))
        for p in locked where p.index * ps >= still { inode.mapping.unlock(p) }
        locked.removeAll { $0.index * ps >= still }
        range = ByteRange(range.start, still)
      }
      let ordered = try await cowFileRange(inode, lockedPage: page, range: range, pages: locked)
      try await submit(inode, pages: locked, ordered: ordered)
    } catch let e as FSError {
      endWritepageError(inode, page, e)
      throw e
    }
    return .submitted
  }

  /// end_extent_writepage with an error: PG_error, mapping_set_error, unlock the page.
  private func endWritepageError(_ inode: BtrfsInode, _ page: Page, _ e: FSError) {
    page.flags.remove(.dirty)
    page.flags.insert(.error)
    inode.mapping.error = e
    if page.flags.contains(.locked) { inode.mapping.unlock(page) }
  }

  /// cow_file_range(unlock=0): reserve data extents for `range` in a loop, one ordered extent per
  /// reserved extent; clear LOCKED|DELALLOC per iteration. `pages` are locked and stay locked on
  /// success. On error, what the fixed kernel does (and what each bug switch skips):
  /// - the failed remainder: clear LOCKED|DELALLOC, release its delalloc reservation, clean and
  ///   unlock its pages except `lockedPage`;
  /// - earlier iterations: unlock their pages except `lockedPage` (bug
  ///   `cow-error-leaves-pages-locked` skips this), and btrfs_cleanup_ordered_extents: mark their
  ///   ordered extents IOERR, return the reserved extents, complete them and wake waiters (bug
  ///   `cow-error-leaks-ordered-extents` skips this).
  func cowFileRange(_ inode: BtrfsInode, lockedPage: Page, range: ByteRange, pages: [Page]) async throws
    -> [OrderedExtent]
  {
    var cur = range.start
    var made: [OrderedExtent] = []
    let maxIterations = range.length / blockSize + 1
    var iteration: UInt64 = 0
    do {
      while cur < range.end {
        iteration += 1
        precondition(iteration <= maxIterations, "cow_file_range made no progress")
        let got = try await reserveExtent(want: (range.end - cur) / blockSize)
        let len = got.count * blockSize
        let r = ByteRange(start: cur, length: len)
        // The delalloc reservation becomes a reserved extent.
        data.mayUse -= len
        data.reserved += len
        let oe = OrderedExtent(range: r, disk: got, kernel: kernel)
        inode.ordered.append(oe)
        made.append(oe)
        inode.ioTree.clear(r, [.locked, .delalloc])
        cur += len
      }
      return made
    } catch let e as FSError {
      let ps = kernel.pageSize
      // The remainder that got no extent.
      let rest = ByteRange(cur, range.end)
      if !rest.isEmpty {
        inode.ioTree.clear(rest, [.locked, .delalloc])
        data.mayUse -= rest.length
        for p in pages where p !== lockedPage && rest.overlaps(ByteRange(start: p.index * ps, length: ps)) {
          cleanOnError(inode, p)
        }
      }
      // Earlier iterations.
      let done = ByteRange(range.start, cur)
      if !done.isEmpty && !bug("cow-error-leaves-pages-locked") {
        for p in pages where p !== lockedPage && done.overlaps(ByteRange(start: p.index * ps, length: ps)) {
          cleanOnError(inode, p)
        }
      }
      if !bug("cow-error-leaks-ordered-extents") {
        for oe in made { cleanupOrderedExtent(inode, oe) }
      }
      throw e
    }
  }

  /// btrfs_reserve_extent: up to `want` contiguous blocks (fewer when free space is fragmented
  /// or an injected `short` says so), through `alloc.data`.
  func reserveExtent(want: UInt64) async throws -> BlockRange {
    var maxBlocks: UInt64?
    switch try await harness.hit(BtrfsModel.Point.allocData) {
    case .fail(let e): throw e
    case .short(let m): maxBlocks = max(1, (m ?? (want * blockSize / 2)) / blockSize)
    default: break
    }
    // unreachable error path: a reservation (reserve.data: the buffered write's, the fixup
    // worker's or the direct write's) holds the space of every block allocated here, so the
    // allocator runs dry only when the space counters are miscounted, which space-balanced
    // reports at rest.
    guard let got = allocator.allocate(want: want, maxBlocks: maxBlocks) else { throw FSError(.noSpace) }
    return got
  }

  /// extent_clear_unlock_delalloc with PAGE_START/END_WRITEBACK|PAGE_SET_ERROR|PAGE_UNLOCK.
  private func cleanOnError(_ inode: BtrfsInode, _ p: Page) {
    p.flags.remove(.dirty)
    p.flags.insert(.error)
    if p.flags.contains(.locked) { inode.mapping.unlock(p) }
  }

  /// btrfs_cleanup_ordered_extents for one extent: IOERR, free the reserved extent, complete.
  private func cleanupOrderedExtent(_ inode: BtrfsInode, _ oe: OrderedExtent) {
    oe.ioerr = true
    allocator.release(oe.disk)
    data.reserved -= oe.range.length
    inode.ordered.removeAll { $0 === oe }
    oe.completion.complete()
  }

  /// extent_write_locked_range: start writeback on every page, unlock it, send one bio per
  /// ordered extent (`io.write`), and queue its completion to the endio worker.
  func submit(_ inode: BtrfsInode, pages: [Page], ordered: [OrderedExtent]) async throws {
    for p in pages.sorted(by: { $0.index < $1.index }) {
      p.flags.remove(.dirty)
      p.flags.insert(.writeback)
      inode.mapping.unlock(p)
    }
    let ps = kernel.pageSize
    for oe in ordered {
      if case .fail(let e) = try await harness.hit(BtrfsModel.Point.ioWrite) {
        oe.ioerr = true
        oe.error = e
      } else {
        for b in 0..<oe.disk.count {
          let off = oe.range.start + b * blockSize
          guard let page = inode.mapping.lookup(off / ps) else { continue }
          let inPage = Int(off % ps)
          device.write(oe.disk.start + b, page.data[inPage..<inPage + Int(blockSize)])
        }
      }
      let pagesOfExtent = pages.filter { oe.range.overlaps(ByteRange(start: $0.index * ps, length: ps)) }
      try await endio.queue("finish_ordered_io", "\(inode.path) \(oe.range)") { [self] in
        try await finishOrderedIO(inode, oe, pages: pagesOfExtent)
      }
    }
  }

  /// The endio worker: end page writeback, then btrfs_finish_ordered_io: lock the range, insert
  /// the file extent (or drop it on IOERR), account the space, unlock, complete the extent. A
  /// failed buffered write's error is on the mapping before any page's writeback ends
  /// (end_bbio_data_write: mapping_set_error, then the folio's writeback cleared), so whoever
  /// waited on that writeback finds it.
  func finishOrderedIO(_ inode: BtrfsInode, _ oe: OrderedExtent, pages: [Page]) async throws {
    if oe.ioerr && !oe.direct { inode.mapping.error = oe.error ?? FSError(.io) }
    for p in pages {
      if oe.ioerr { p.flags.insert(.error) }
      p.mapping?.endWriteback(p)
    }
    try await inode.ioTree.lock(oe.range)
    // Updating the fs tree under the extent lock: seed 001's window.
    _ = try await harness.hit(BtrfsModel.Point.finishOrdered)
    data.reserved -= oe.range.length
    if oe.ioerr {
      allocator.release(oe.disk)
    } else {
      data.used += oe.range.length
      pinned += insertExtent(inode, FileExtent(range: oe.range, disk: oe.disk))
    }
    inode.ioTree.unlock(oe.range)
    inode.ordered.removeAll { $0 === oe }
    oe.completion.complete()
  }
}
