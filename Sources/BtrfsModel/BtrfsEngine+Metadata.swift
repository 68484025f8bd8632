import FaultKit
import ModelKernel

/// The metadata space's `used`: the bytes of the fs tree's items, an inode item per file and a
/// file extent item per extent, at btrfs's sizes (each item also takes its 25-byte `btrfs_item`
/// header in the leaf). The engine charges them as items come and go; the snapshot computes
/// `free` from the tree as it stands, so free + used + reserved = total checks the running count
/// against the tree instead of being an identity.
extension BtrfsEngine {
  /// `struct btrfs_item` (25 bytes) + `struct btrfs_inode_item` (160 bytes).
  static let inodeItemBytes: UInt64 = 25 + 160
  /// `struct btrfs_item` + `struct btrfs_file_extent_item` for a regular extent (53 bytes).
  static let extentItemBytes: UInt64 = 25 + 53

  /// The fs tree's item bytes, counted from the tree now.
  func treeItemBytes() -> UInt64 {
    inodes.values.reduce(0) { $0 + BtrfsEngine.inodeItemBytes + UInt64($1.extents.count) * BtrfsEngine.extentItemBytes }
  }

  /// Inserts a file extent item (cutting what it overlaps) and charges the items the tree gained
  /// or lost; returns the device blocks no longer referenced.
  func insertExtent(_ inode: BtrfsInode, _ e: FileExtent) -> [BlockRange] {
    let before = UInt64(inode.extents.count)
    let freed = inode.insert(e, blockSize: blockSize)
    let after = UInt64(inode.extents.count)
    if after > before {
      metadata.used += (after - before) * BtrfsEngine.extentItemBytes
    } else {
      metadata.used -= (before - after) * BtrfsEngine.extentItemBytes
    }
    return freed
  }

  /// The metadata space's record: `free` is what the tree's items and reservations leave.
  func metadataRecord() -> SpaceRecord {
    let (taken, overflow) = treeItemBytes().addingReportingOverflow(metadata.reserved.value)
    let free = overflow || taken > metadata.total ? 0 : metadata.total - taken
    return metadata.record(free: free, backsData: false)
  }
}
