import FaultKit
import ModelKernel

/// What a journal commit made durable: each file's size and extent tree (`recover` mounts it).
struct Ext4CommittedState: Sendable {
  struct File: Sendable {
    var ino: UInt64
    var size: UInt64
    var extents: [TreeExtent]
  }
  var files: [String: File]
  /// The on-disk orphan list: unlinked inodes whose blocks were not all freed by this commit.
  var orphans: [File] = []
}

/// An ext4 inode in memory: size, page cache, the three locks of the thread (i_rwsem, the
/// invalidate lock, i_data_sem), the extent tree and the extent-status cache.
final class Ext4Inode: @unchecked Sendable {
  let path: String
  /// The inode number (the orphan's name once the path is gone).
  let ino: UInt64
  var size: UInt64 = 0
  let mapping: AddressSpace
  /// `inode->i_rwsem` (inode_lock): writes, punch, truncate, unlink.
  let rwsem: RWSemaphore
  /// `mapping->invalidate_lock`: held exclusively while punch and truncate remove page cache
  /// and blocks, so no page can be created or mapped in the range.
  let invalidateLock: RWSemaphore
  /// `EXT4_I(inode)->i_data_sem`: the extent tree's lock (shared to look up, exclusive to change).
  let dataSem: RWSemaphore
  var tree: ExtentTree
  var cache = ExtentStatusCache()
  /// Operations in flight on the inode (each holds it, as an open file does: iget, fput).
  var refs = 0
  /// Unlinked to nlink 0: the last reference's iput evicts it.
  var unlinked = false

  init(path: String, ino: UInt64, kernel: Kernel, leafCapacity: Int) {
    self.path = path
    self.ino = ino
    mapping = AddressSpace(path: path, kernel: kernel)
    rwsem = RWSemaphore(kind: .inode, object: path, kernel: kernel)
    invalidateLock = RWSemaphore(kind: .rwsem, object: "\(path) invalidate_lock", kernel: kernel)
    dataSem = RWSemaphore(kind: .rwsem, object: "\(path) i_data_sem", kernel: kernel)
    tree = ExtentTree(leafCapacity: leafCapacity)
  }

  /// What snapshots call the inode once unlinked: `orphan inode 12 (was /a)`.
  var orphanName: String { "orphan inode \(ino) (was \(path))" }

  /// `ext4_cache_extents`: after a lookup read the leaf the index routes `lblk` to, every extent
  /// of that leaf, and the holes between them, go into the status cache where it knows nothing.
  func cacheLeaf(containing lblk: UInt64) {
    guard let leaf = tree.leaf(for: lblk) else { return }
    // Holes between extents only, as the kernel's loop does (none before the first).
    var prev: UInt64?
    for x in leaf.extents {
      if let p = prev, x.lblk > p { cache.fill(StatusEntry(lblk: p, len: x.lblk - p, pblk: nil, status: .hole)) }
      cache.fill(StatusEntry(lblk: x.lblk, len: x.len, pblk: x.pblk, status: x.unwritten ? .unwritten : .written))
      prev = x.end
    }
  }

  /// Re-reads the status of [lo, hi) from the tree into the cache, replacing what it said
  /// (after a conversion or an insert by this inode's own writeback).
  func recache(_ lo: UInt64, _ hi: UInt64) {
    for x in tree.extents {
      guard let c = x.clipped(lo, hi) else { continue }
      cache.insert(StatusEntry(lblk: c.lblk, len: c.len, pblk: c.pblk, status: c.unwritten ? .unwritten : .written))
    }
  }
}
