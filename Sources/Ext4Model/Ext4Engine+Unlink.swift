import FaultKit
import ModelKernel

/// Unlink and eviction, in ext4's order: the directory entry goes first, in one handle that also
/// puts the inode on the orphan list (ext4_unlink → __ext4_unlink, ext4_orphan_add when nlink
/// drops to 0); the blocks are freed at the final iput by ext4_evict_inode (ext4_truncate, with
/// credit restarts), whose errors never reach unlink's caller: the inode stays on the orphan list
/// and the next mount's orphan processing (ext4_orphan_cleanup) finishes the job.
extension Ext4Engine {
  /// ext4_unlink, then the final iput (the model has no open descriptors: unlink drops the last
  /// reference). Fails only if the handle for the entry cannot start; then nothing has changed.
  func unlink(_ path: String) async throws {
    let inode = try lookup(path)
    // vfs_unlink holds the victim's i_rwsem across ->unlink.
    try await inode.rwsem.lockExclusive()
    let h: JournalHandle
    do {
      h = try await startHandle(Ext4Engine.startCredits)
    } catch let e as FSError {
      inode.rwsem.unlock()
      throw e
    }
    // ext4_delete_entry, drop_nlink to 0, ext4_orphan_add: all in this handle.
    inodes[path] = nil
    inode.unlinked = true
    orphans.append(inode)
    journal.stop(h)
    inode.rwsem.unlock()
    // The final iput comes when this operation (and any other holding the inode) ends.
  }

  /// ext4_evict_inode for an inode with nlink 0, by the last reference's iput: no operation holds
  /// it or can look it up. truncate_inode_pages_final (waiting for page locks and writeback), then a
  /// handle, i_size 0, and ext4_truncate (ext4_ext_truncate: the status cache dropped, every
  /// extent removed with restarts, the blocks pinned until commit); success takes the inode off
  /// the orphan list and frees it. A handle that does not start, or an error from the truncate
  /// (a restart whose new handle fails to start), is only logged (ext4_std_error,
  /// ext4_error_err): the in-core inode is cleared (ext4_orphan_del(NULL, …) unlinks it from the
  /// in-memory list only) and the on-disk orphan record keeps the blocks the tree still maps.
  /// Throws only what lock and page waits throw (the scheduler ending the scenario).
  func evict(_ inode: Ext4Inode) async throws {
    // Nobody else reaches the inode; the locks only keep lockdep's view of the truncate the same
    // as truncate's.
    try await inode.rwsem.lockExclusive()
    try await inode.invalidateLock.lockExclusive()
    defer {
      inode.invalidateLock.unlock()
      inode.rwsem.unlock()
    }
    try await evictPages(inode, from: 0, to: UInt64.max / kernel.pageSize)
    let h: JournalHandle
    do {
      h = try await startHandle(Ext4Engine.startCredits)
    } catch is FSError {
      // ext4_std_error: logged; the orphan stays on disk with every block.
      clearInode(inode)
      return
    }
    inode.size = 0
    try await inode.dataSem.lockExclusive()
    releaseDelayed(inode.cache.remove(0, UInt64.max))
    var truncated = true
    do {
      try await removeSpace(inode, h, 0, UInt64.max)
    } catch is FSError {
      // ext4_error_err("couldn't truncate inode"): what is not removed stays mapped by the orphan.
      truncated = false
    }
    inode.dataSem.unlock()
    // ext4_orphan_del(handle, inode) and ext4_free_inode, in the same handle.
    if truncated { orphans.removeAll { $0 === inode } }
    journal.stop(h)
    clearInode(inode)
  }

  /// ext4_clear_inode: the in-core inode goes; its status cache with it (releasing what delayed
  /// entries reserved: their pages are gone). An orphan that is still on `orphans` keeps its tree,
  /// which is what the disk holds.
  private func clearInode(_ inode: Ext4Inode) {
    releaseDelayed(inode.cache.remove(0, UInt64.max))
    inode.cache.removeAll()
  }
}
