import FaultKit
import ModelKernel

/// Punch hole and truncate: both hold i_rwsem and the invalidate lock, evict the page cache over
/// the range, and remove extents from the end of the range towards its start
/// (ext4_ext_remove_space), making sure of journal credits per extent; a restart drops
/// i_data_sem, and that is where seed 004's writeback slips in.
extension Ext4Engine {
  /// ext4_punch_hole.
  func punch(_ path: String, offset: UInt64, length: UInt64) async throws {
    let inode = try lookup(path)
    guard length > 0 else { return }
    try await inode.rwsem.lockExclusive()
    do {
      try await punchLocked(inode, offset: offset, length: length)
    } catch let e as FSError {
      inode.rwsem.unlock()
      throw e
    }
    inode.rwsem.unlock()
  }

  private func punchLocked(_ inode: Ext4Inode, offset: UInt64, length: UInt64) async throws {
    guard offset < inode.size else { return }
    let ps = kernel.pageSize
    // A hole past EOF is cut at the page holding EOF, as ext4 does.
    let end = min(offset + length, (inode.size + ps - 1) / ps * ps)
    // filemap_write_and_wait_range: nothing delayed is left in the range.
    try await writeback(inode, range: ByteRange(offset, end), wait: true)
    try await inode.invalidateLock.lockExclusive()
    do {
      try await punchBlocks(inode, offset: offset, end: end)
    } catch let e as FSError {
      inode.invalidateLock.unlock()
      throw e
    }
    inode.invalidateLock.unlock()
  }

  /// Under i_rwsem and the invalidate lock: truncate_pagecache_range, then in a handle the
  /// blocks, then the hole entry over the whole punched range.
  private func punchBlocks(_ inode: Ext4Inode, offset: UInt64, end: UInt64) async throws {
    let ps = kernel.pageSize
    let first = (offset + blockSize - 1) / blockSize
    let stop = end / blockSize
    try await zeroPartial(inode, from: offset, to: min(end, first * blockSize))
    // ext4_zero_partial_blocks: the end's partial block too whenever the range crosses into it,
    // also when no whole block lies between (a punch of [2KiB, 5KiB) zeroes [4KiB, 5KiB)).
    if end > first * blockSize { try await zeroPartial(inode, from: stop * blockSize, to: end) }
    try await evictPages(inode, from: (offset + ps - 1) / ps, to: end / ps)
    guard first < stop else { return }
    let h = try await startHandle(Ext4Engine.startCredits)
    try await inode.dataSem.lockExclusive()
    releaseDelayed(inode.cache.remove(first, stop))
    do {
      try await removeSpace(inode, h, first, stop)
    } catch let e as FSError {
      // Part of the range may still be mapped: let the next lookup read the tree.
      releaseDelayed(inode.cache.remove(first, stop))
      inode.dataSem.unlock()
      journal.stop(h)
      throw e
    }
    if !bug("punch-skips-final-hole-insert") {
      // ext4_es_insert_extent(inode, first_block, hole_len, ~0, EXTENT_STATUS_HOLE): overwrites
      // whatever a writeback reloaded from a leaf while a restart had dropped i_data_sem.
      inode.cache.insert(StatusEntry(lblk: first, len: stop - first, pblk: nil, status: .hole))
    }
    inode.dataSem.unlock()
    journal.stop(h)
  }

  /// ext4_setattr shrinking (or growing) i_size, then ext4_truncate.
  func truncate(_ path: String, size: UInt64) async throws {
    let inode = try lookup(path)
    try await inode.rwsem.lockExclusive()
    // ext4_setattr's handle first (the orphan handle when shrinking): if it cannot start,
    // nothing has changed.
    let h: JournalHandle
    do {
      guard size != inode.size else {
        inode.rwsem.unlock()
        return
      }
      h = try await startHandle(Ext4Engine.startCredits)
    } catch let e as FSError {
      inode.rwsem.unlock()
      throw e
    }
    let ps = kernel.pageSize
    guard size < inode.size else {
      // Growing: ext4_block_truncate_page(handle, mapping, oldsize) zeroes the old EOF block's
      // tail, which a truncate down whose zeroing failed left on disk (its error is not checked
      // here either), then i_size moves.
      let old = inode.size
      do {
        try await zeroPartial(inode, from: old, to: min((old + ps - 1) / ps * ps, (old / ps + 1) * ps))
      } catch is FSError {
        // Ignored, as ext4_setattr ignores it: the tail keeps what the disk holds.
      }
      inode.size = size
      journal.stop(h)
      inode.rwsem.unlock()
      return
    }
    try await inode.invalidateLock.lockExclusive()
    inode.size = size
    do {
      // truncate_pagecache and ext4_block_truncate_page: the tail of the page holding EOF is
      // zeroed (reading its block in), later pages go. ext4_truncate does not check the
      // zeroing's error (through 6.12): a failed read-in leaves the tail as the disk holds it
      // and the truncate goes on.
      do {
        try await zeroPartial(inode, from: size, to: min((size + ps - 1) / ps * ps, (size / ps + 1) * ps))
      } catch is FSError {
        // ext4_block_truncate_page's error is dropped.
      }
      try await evictPages(inode, from: (size + ps - 1) / ps, to: UInt64.max / ps)
      let last = (size + blockSize - 1) / blockSize
      try await inode.dataSem.lockExclusive()
      releaseDelayed(inode.cache.remove(last, UInt64.max))
      do {
        try await removeSpace(inode, h, last, UInt64.max)
      } catch let e as FSError {
        releaseDelayed(inode.cache.remove(last, UInt64.max))
        inode.dataSem.unlock()
        throw e
      }
      // The model also drops what a restart's window let a writeback reload beyond EOF (see
      // README: ext4_ext_truncate removes status entries only before removing the blocks).
      releaseDelayed(inode.cache.remove(last, UInt64.max))
      inode.dataSem.unlock()
    } catch let e as FSError {
      journal.stop(h)
      inode.invalidateLock.unlock()
      inode.rwsem.unlock()
      throw e
    }
    journal.stop(h)
    inode.invalidateLock.unlock()
    inode.rwsem.unlock()
  }

  /// ext4_ext_remove_space over blocks [first, stop), i_data_sem held exclusively: extent by
  /// extent from the end, `ext4_ext_rm_leaf` makes sure of credits (a restart drops and retakes
  /// i_data_sem), removes the extent's part in range and frees its blocks (pinned until commit).
  func removeSpace(_ inode: Ext4Inode, _ h: JournalHandle, _ first: UInt64, _ stop: UInt64) async throws {
    let bound = inode.tree.extentCount + 64
    for _ in 0...bound {
      guard inode.tree.lastExtent(overlapping: first, stop) != nil else { return }
      try await ensureCredits(inode, h, Ext4Engine.removeCredits)
      // Found again: the tree may have changed while a restart had i_data_sem dropped.
      guard let removed = inode.tree.removeLast(overlapping: first, stop) else { return }
      pin(removed.freed)
    }
    preconditionFailure("ext4_ext_remove_space on \(inode.path) made no progress in \(bound) steps")
  }

  /// truncate_inode_pages_range over whole pages [from, to): each cached page is locked, waited
  /// for writeback, and removed. The invalidate lock is held: no page can come back.
  func evictPages(_ inode: Ext4Inode, from: UInt64, to: UInt64) async throws {
    guard from < to else { return }
    for index in inode.mapping.indexes where from <= index && index < to {
      guard let page = inode.mapping.lookup(index) else { continue }
      try await inode.mapping.lock(page)
      try await inode.mapping.waitWriteback(page)
      inode.mapping.remove(page)
      inode.mapping.unlock(page)
    }
  }

  /// ext4_zero_partial_blocks for the bytes [from, to) inside one page: zeroes them in the page
  /// (reading it in if its block holds data) and dirties it if a block is behind it.
  func zeroPartial(_ inode: Ext4Inode, from: UInt64, to: UInt64) async throws {
    let ps = kernel.pageSize
    guard from < to else { return }
    let index = from / ps
    precondition((to - 1) / ps == index, "partial zeroing across pages")
    let mapped = inode.tree.lookup(index) != nil || inode.cache.lookup(index)?.status == .delayed
    let page: Page
    if let p = inode.mapping.lookup(index) {
      page = p
    } else {
      guard mapped else { return }
      page = inode.mapping.findOrCreate(index)
    }
    try await inode.mapping.lock(page)
    do {
      try await inode.mapping.waitWriteback(page)
      if !page.flags.contains(.uptodate) { try await fill(page, inode) }
    } catch let e as FSError {
      inode.mapping.unlock(page)
      if !page.flags.contains(.uptodate) { inode.mapping.remove(page) }
      throw e
    }
    let lo = Int(from - index * ps)
    let hi = Int(to - index * ps)
    page.data.withUnsafeMutableBufferPointer { b in
      for k in lo..<hi { b[k] = 0 }
    }
    if mapped { page.flags.insert(.dirty) }
    inode.mapping.unlock(page)
  }
}
