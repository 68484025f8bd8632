import FaultKit
import ModelKernel

/// Pages dirtied behind btrfs's back and the writepage fixup worker (seed 002). An mmap store
/// (or anything that dirties a page without going through btrfs's write path) leaves a dirty page
/// with no delalloc reservation under it. Writeback's start hook (btrfs_writepage_cow_fixup) marks
/// such a page Checked and queues the fixup worker, which locks the page, reserves space, sets
/// DELALLOC, and leaves the page dirty for the next writeback pass.
///
/// - fixed (Chris Mason's patch): the hook redirties the page (-EAGAIN), so the page stays dirty
///   while it waits; the worker checks mapping, dirty and Checked; on ENOSPC it records the error
///   on the mapping, ends writeback and cleans the page (the next fsync reports the error).
/// - `fixup-page-cleaned-before-worker` (87826df0ec36's window): the hook leaves the page clean
///   (-EBUSY); the old worker only checked mapping and Checked and redirtied the page itself. A
///   migration in the window moves the clean page; the worker finds no mapping and frees its page
///   unwritten: the data is gone and fsync says nothing.
/// - `fixup-enospc-leaves-page-dirty`: on ENOSPC the page stays dirty with no reservation.
extension BtrfsEngine {
  /// btrfs_writepage_cow_fixup, for a locked page whose dirty bit writeback just cleared.
  func cowFixup(_ inode: BtrfsInode, _ page: Page) async throws {
    let cleanedWhileWaiting = bug("fixup-page-cleaned-before-worker")
    if page.flags.contains(.checked) {
      // A fixup is already queued for it: -EAGAIN, redirty and skip.
      page.flags.insert(.dirty)
      inode.mapping.unlock(page)
      return
    }
    page.flags.insert(.checked)
    fixupHeld.append(page)  // folio_get: the queued work holds the page until the worker puts it
    if !cleanedWhileWaiting { page.flags.insert(.dirty) }  // -EAGAIN: redirty_page_for_writepage
    inode.mapping.unlock(page)
    try await fixup.queue("fixup", "\(inode.path)#\(page.index)") { [self] in
      try await fixupWorker(inode, page)
    }
    _ = try await harness.hit(BtrfsModel.Point.fixupQueued)
  }

  /// btrfs_writepage_fixup_worker, for the page it was queued with (which migration may have
  /// taken out of the mapping since).
  func fixupWorker(_ inode: BtrfsInode, _ page: Page) async throws {
    let oldWorker = bug("fixup-page-cleaned-before-worker")
    // folio_put at the worker's end, on every path: the page may be migrated again.
    defer { fixupHeld.removeAll { $0 === page } }
    let ps = kernel.pageSize
    let range = ByteRange(start: page.index * ps, length: ps)
    for _ in 0..<WorkQueue.maxItems {
      try await inode.mapping.lock(page)
      let gone = page.mapping == nil || !page.flags.contains(.checked) || (!oldWorker && !page.flags.contains(.dirty))
      if gone {
        page.flags.remove(.checked)
        inode.mapping.unlock(page)
        return
      }
      try await inode.ioTree.lock(range)
      if let oe = inode.ordered.first(where: { $0.range.overlaps(range) }) {
        // btrfs_start_ordered_extent: drop the locks, wait, start again.
        inode.ioTree.unlock(range)
        inode.mapping.unlock(page)
        try await oe.completion.wait("ordered extent \(inode.path) \(oe.range)")
        continue
      }
      if inode.ioTree.test(range, .delalloc) {
        // Someone reserved and set delalloc meanwhile: nothing to fix.
        inode.ioTree.unlock(range)
        page.flags.remove(.checked)
        inode.mapping.unlock(page)
        return
      }
      do {
        if case .fail(let e) = try await harness.hit(BtrfsModel.Point.reserveData) { throw e }
        guard data.available >= ps else { throw FSError(.noSpace) }
        data.mayUse += ps
        inode.ioTree.set(range, .delalloc)
        if oldWorker { page.flags.insert(.dirty) }  // the old worker's set_page_dirty
      } catch let e as FSError {
        // mapping_set_error + end_extent_writepage; the fix also cleans the page.
        inode.mapping.error = e
        page.flags.insert(.error)
        if !bug("fixup-enospc-leaves-page-dirty") { page.flags.remove(.dirty) }
      }
      inode.ioTree.unlock(range)
      page.flags.remove(.checked)
      inode.mapping.unlock(page)
      return
    }
  }

  /// A store through a shared mapping: dirties the pages of the range with no reservation and no
  /// DELALLOC, as pages dirtied outside the filesystem are. The range must lie within the file.
  func mmapWrite(_ path: String, offset: UInt64, length: UInt64, payload: WriteData) async throws {
    let inode = try lookup(path)
    guard length > 0 else { return }
    let ps = kernel.pageSize
    guard offset + length <= (inode.size + ps - 1) / ps * ps else { throw FSError(.invalid) }  // SIGBUS
    for index in (offset / ps)...((offset + length - 1) / ps) {
      let page = try await inode.mapping.grab(index)
      do {
        try await inode.mapping.waitWriteback(page)
        if !page.flags.contains(.uptodate) { try await fill(page, inode) }
      } catch let e as FSError {
        inode.mapping.unlock(page)
        throw e
      }
      page.store(payload, over: ByteRange(start: offset, length: length))
      page.flags.formUnion([.uptodate, .dirty])
      inode.mapping.unlock(page)
    }
  }

  /// Page migration of the cached page holding `offset`: under the old page's lock, a new page
  /// takes its place with its bytes and its dirty/uptodate/error state; the old page loses its
  /// mapping. Migration is synchronous: it waits for writeback to end.
  ///
  /// A page a queued fixup holds (btrfs_writepage_cow_fixup's folio_get, put at the end of the
  /// worker) cannot move: __folio_migrate_mapping cannot freeze the reference count it expects,
  /// and migrate_pages gives up after its retries; move_pages(2) reports EBUSY ("another kernel
  /// subsystem is holding a reference to the page"). So PG_checked, which the hook sets together
  /// with that reference and the worker clears before dropping it, never reaches a new page.
  /// Under `fixup-page-cleaned-before-worker` the migration goes ahead as seed 002's thread
  /// reports it did in 87826df0ec36's window (the old hook took the same reference; how
  /// migration got past it the thread does not say), and PG_checked stays with the old page.
  func migratePage(_ path: String, offset: UInt64) async throws {
    let inode = try lookup(path)
    guard let page = inode.mapping.lookup(offset / kernel.pageSize) else { throw FSError(.noEntry) }
    try await inode.mapping.lock(page)
    try await inode.mapping.waitWriteback(page)  // MIGRATE_SYNC
    if fixupHeld.contains(where: { $0 === page }) && !bug("fixup-page-cleaned-before-worker") {
      inode.mapping.unlock(page)
      throw FSError(.busy)
    }
    _ = inode.mapping.migrate(page, keeping: [.dirty, .uptodate, .error])
    inode.mapping.unlock(page)
  }
}
