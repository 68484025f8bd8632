import FaultKit
import ModelKernel

/// A file extent item of the fs tree: file bytes → device blocks.
struct FileExtent: Sendable, Hashable {
  var range: ByteRange
  var disk: BlockRange
}

/// The committed state the device holds: what `recover` mounts.
struct CommittedRoot: Sendable {
  struct File: Sendable {
    var size: UInt64
    var extents: [FileExtent]
  }
  var files: [String: File]
}

/// An ordered extent: a range allocated by cow_file_range whose I/O is in flight or finishing.
final class OrderedExtent: @unchecked Sendable {
  let range: ByteRange
  let disk: BlockRange
  /// BTRFS_ORDERED_IOERR: the I/O failed (or the extent was cleaned up on an error path).
  var ioerr = false
  /// The error the I/O failed with (an injected one keeps its mark).
  var error: FSError?
  /// Made by direct I/O: its errors go to the direct writer, not to the mapping.
  var direct = false
  let completion: Completion

  init(range: ByteRange, disk: BlockRange, kernel: Kernel) {
    self.range = range
    self.disk = disk
    completion = Completion(kernel: kernel)
  }
}

/// A btrfs inode in memory: size, page cache, io tree (LOCKED/DELALLOC bits), i_rwsem, the fs
/// tree's extent items for it, and its ordered extents.
final class BtrfsInode: @unchecked Sendable {
  let path: String
  var size: UInt64 = 0
  let mapping: AddressSpace
  let ioTree: RangeLockTree
  let rwsem: RWSemaphore
  /// Extent items, sorted by file offset, disjoint.
  var extents: [FileExtent] = []
  var ordered: [OrderedExtent] = []

  init(path: String, kernel: Kernel) {
    self.path = path
    mapping = AddressSpace(path: path, kernel: kernel)
    ioTree = RangeLockTree(path: path, kernel: kernel)
    rwsem = RWSemaphore(kind: .inode, object: path, kernel: kernel)
  }

  /// The extent item mapping file byte `offset`, if any.
  func extent(at offset: UInt64) -> FileExtent? {
    extents.first { $0.range.start <= offset && offset < $0.range.end }
  }

  /// Inserts an extent item, cutting whatever it overlaps; returns the device blocks no longer
  /// referenced (to be pinned until commit).
  func insert(_ e: FileExtent, blockSize: UInt64) -> [BlockRange] {
    var freed: [BlockRange] = []
    var kept: [FileExtent] = []
    for x in extents {
      guard x.range.overlaps(e.range) else {
        kept.append(x)
        continue
      }
      if x.range.start < e.range.start {
        let n = (e.range.start - x.range.start) / blockSize
        kept.append(
          FileExtent(range: ByteRange(x.range.start, e.range.start), disk: BlockRange(start: x.disk.start, count: n)))
      }
      if e.range.end < x.range.end {
        let skip = (e.range.end - x.range.start) / blockSize
        kept.append(
          FileExtent(
            range: ByteRange(e.range.end, x.range.end),
            disk: BlockRange(start: x.disk.start + skip, count: x.disk.count - skip)))
      }
      let lo = (max(x.range.start, e.range.start) - x.range.start) / blockSize
      let hi = (min(x.range.end, e.range.end) - x.range.start) / blockSize
      freed.append(BlockRange(start: x.disk.start + lo, count: hi - lo))
    }
    kept.append(e)
    kept.sort { $0.range.start < $1.range.start }
    extents = kept
    return freed
  }
}
