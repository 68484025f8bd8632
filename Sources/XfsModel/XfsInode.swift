import FaultKit
import ModelKernel

/// One extent of the data fork: written blocks, or a delalloc reservation with no blocks yet.
struct ForkExtent: Sendable, Hashable {
  var range: ByteRange
  /// nil for delalloc.
  var disk: BlockRange?
  var isDelalloc: Bool { disk == nil }

  /// The part of this extent over `r`, keeping the block offset right.
  func slice(_ r: ByteRange, blockSize: UInt64) -> ForkExtent? {
    guard let i = range.intersection(r) else { return nil }
    guard let d = disk else { return ForkExtent(range: i, disk: nil) }
    let skip = (i.start - range.start) / blockSize
    return ForkExtent(range: i, disk: BlockRange(start: d.start + skip, count: i.length / blockSize))
  }
}

/// What iomap_begin hands back: a range, what it is, whether this call reserved it (IOMAP_F_NEW),
/// and the fork sequence it was read at.
struct IOMap {
  enum Kind: Equatable {
    case hole
    case delalloc
    case written(BlockRange)
  }
  let range: ByteRange
  let kind: Kind
  let new: Bool
  let seq: Int
}

/// An XFS inode in memory: size, page cache, the iolock (i_rwsem), the ILOCK, the
/// invalidate_lock (XFS_MMAPLOCK), and the data fork with its change sequence (if_seq).
final class XfsInode: @unchecked Sendable {
  let path: String
  var size: UInt64 = 0
  let mapping: AddressSpace
  let iolock: RWSemaphore
  let ilock: RWSemaphore
  let invalidateLock: RWSemaphore
  /// Sorted by offset, disjoint.
  private(set) var fork: [ForkExtent] = []
  /// Bumped by every change to the fork: what ->iomap_valid compares.
  private(set) var seq = 0

  init(path: String, kernel: Kernel) {
    self.path = path
    mapping = AddressSpace(path: path, kernel: kernel)
    iolock = RWSemaphore(kind: .inode, object: path, kernel: kernel)
    ilock = RWSemaphore(kind: .rwsem, object: "\(path) ilock", kernel: kernel)
    invalidateLock = RWSemaphore(kind: .rwsem, object: "\(path) invalidate_lock", kernel: kernel)
  }

  /// The extents overlapping `r`, clipped to it.
  func extents(in r: ByteRange, blockSize: UInt64) -> [ForkExtent] {
    fork.compactMap { $0.slice(r, blockSize: blockSize) }
  }

  func extent(at offset: UInt64) -> ForkExtent? {
    fork.first { $0.range.start <= offset && offset < $0.range.end }
  }

  /// Replaces whatever the fork has over `r` with `new` (nil: a hole). Returns what was removed.
  @discardableResult
  func replace(_ r: ByteRange, with new: ForkExtent?, blockSize: UInt64) -> [ForkExtent] {
    var kept: [ForkExtent] = []
    var removed: [ForkExtent] = []
    for x in fork {
      guard x.range.overlaps(r) else {
        kept.append(x)
        continue
      }
      if let left = x.slice(ByteRange(x.range.start, r.start), blockSize: blockSize) { kept.append(left) }
      if let right = x.slice(ByteRange(r.end, x.range.end), blockSize: blockSize) { kept.append(right) }
      if let mid = x.slice(r, blockSize: blockSize) { removed.append(mid) }
    }
    if let new { kept.append(new) }
    kept.sort { $0.range.start < $1.range.start }
    fork = kept
    seq += 1
    return removed
  }

  /// Replaces the fork wholesale (mount).
  func load(_ extents: [ForkExtent]) {
    fork = extents.sorted { $0.range.start < $1.range.start }
    seq += 1
  }
}

/// The committed state the device holds: what `recover` mounts.
struct XfsCommitted: Sendable {
  var files: [String: (size: UInt64, extents: [ForkExtent])]
}
