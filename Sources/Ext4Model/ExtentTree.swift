import FaultKit

/// One extent of the tree (`struct ext4_extent`): file blocks [lblk, lblk+len) → device blocks
/// [pblk, pblk+len), written or unwritten (allocated, reads as zeros until converted).
struct TreeExtent: Sendable, Hashable {
  var lblk: UInt64
  var len: UInt64
  var pblk: UInt64
  var unwritten: Bool

  var end: UInt64 { lblk + len }
  var disk: BlockRange { BlockRange(start: pblk, count: len) }

  /// The part of this extent inside [lo, hi), nil if none.
  func clipped(_ lo: UInt64, _ hi: UInt64) -> TreeExtent? {
    let s = max(lblk, lo)
    let e = min(end, hi)
    guard s < e else { return nil }
    return TreeExtent(lblk: s, len: e - s, pblk: pblk + (s - lblk), unwritten: unwritten)
  }
}

/// A leaf block of the tree and the index entry pointing at it (`ei_block`: the first file block
/// the index routes to this leaf).
struct ExtentLeaf: Sendable, Hashable {
  var indexBlock: UInt64
  /// Sorted by `lblk`, disjoint, at most the tree's leaf capacity.
  var extents: [TreeExtent]
}

/// An inode's extent tree of depth 1: an index (the inode's root) over leaf blocks of a small,
/// configurable capacity, so that a punch spans many leaves. Extents are never merged (ext4
/// merges neighbours; the model keeps each allocation's extent as it was inserted). A lookup
/// goes through the index to the one leaf that covers a block, as `ext4_find_extent` does.
struct ExtentTree: Sendable {
  let leafCapacity: Int
  private(set) var leaves: [ExtentLeaf] = []

  init(leafCapacity: Int) {
    precondition(leafCapacity >= 2, "leaf capacity below 2")
    self.leafCapacity = leafCapacity
  }

  /// Every extent in file order.
  var extents: [TreeExtent] { leaves.flatMap(\.extents) }
  var extentCount: Int { leaves.reduce(0) { $0 + $1.extents.count } }

  /// The leaf the index routes `lblk` to: the last whose index block is ≤ lblk, else the first
  /// (`ext4_ext_binsearch_idx`). Nil for an empty tree.
  func leafIndex(for lblk: UInt64) -> Int? {
    guard !leaves.isEmpty else { return nil }
    return leaves.lastIndex { $0.indexBlock <= lblk } ?? 0
  }

  /// The leaf the index routes `lblk` to, with the file blocks it covers (for `ext4_cache_extents`).
  func leaf(for lblk: UInt64) -> (extents: [TreeExtent], from: UInt64, to: UInt64)? {
    guard let i = leafIndex(for: lblk) else { return nil }
    let from = i == 0 ? 0 : leaves[i].indexBlock
    let to = i + 1 < leaves.count ? leaves[i + 1].indexBlock : UInt64.max
    return (leaves[i].extents, from, to)
  }

  /// The extent holding `lblk`, looked up through the index as the kernel does.
  func lookup(_ lblk: UInt64) -> TreeExtent? {
    guard let i = leafIndex(for: lblk) else { return nil }
    return leaves[i].extents.first { $0.lblk <= lblk && lblk < $0.end }
  }

  /// The first block of the first extent starting after `lblk`, if any.
  func nextExtentStart(after lblk: UInt64) -> UInt64? {
    extents.first { $0.lblk > lblk }?.lblk
  }

  /// Inserts an extent over a hole (`ext4_ext_insert_extent`); a full leaf splits: appending at
  /// the end of the last leaf starts a new leaf, otherwise the leaf splits in half.
  mutating func insert(_ e: TreeExtent) {
    precondition(e.len > 0, "empty extent")
    precondition(!extents.contains { $0.lblk < e.end && e.lblk < $0.end }, "inserting \(e) over a mapped range")
    guard let i = leafIndex(for: e.lblk) else {
      leaves = [ExtentLeaf(indexBlock: 0, extents: [e])]
      return
    }
    var leaf = leaves[i]
    let at = leaf.extents.firstIndex { $0.lblk > e.lblk } ?? leaf.extents.count
    leaf.extents.insert(e, at: at)
    leaf.indexBlock = min(leaf.indexBlock, e.lblk)
    leaves[i] = leaf
    rebalance(i, appended: at == leaf.extents.count - 1 && i == leaves.count - 1)
  }

  /// The last extent overlapping [first, stop), if any (where `ext4_ext_rm_leaf` works next).
  func lastExtent(overlapping first: UInt64, _ stop: UInt64) -> TreeExtent? {
    extents.last { $0.lblk < stop && first < $0.end }
  }

  /// Removes the part of the last extent that lies in [first, stop) (one step of
  /// `ext4_ext_rm_leaf`, which works from the end of the range towards its start); the parts
  /// outside stay. Returns the freed device blocks, nil when nothing in range is mapped. An
  /// emptied leaf leaves the index (`ext4_ext_rm_idx`).
  mutating func removeLast(overlapping first: UInt64, _ stop: UInt64) -> (freed: BlockRange, extent: TreeExtent)? {
    guard let li = leaves.lastIndex(where: { $0.extents.contains { $0.lblk < stop && first < $0.end } }) else {
      return nil
    }
    var leaf = leaves[li]
    let k = leaf.extents.lastIndex { $0.lblk < stop && first < $0.end }!
    let x = leaf.extents[k]
    let gone = x.clipped(first, stop)!
    var keep: [TreeExtent] = []
    if let left = x.clipped(0, first) { keep.append(left) }
    if let right = x.clipped(stop, UInt64.max) { keep.append(right) }
    leaf.extents.replaceSubrange(k...k, with: keep)
    if leaf.extents.isEmpty {
      leaves.remove(at: li)
    } else {
      leaves[li] = leaf
      rebalance(li, appended: false)
    }
    return (gone.disk, gone)
  }

  /// Marks [lo, hi) written, splitting extents at the edges (`ext4_convert_unwritten_extents`).
  mutating func setWritten(_ lo: UInt64, _ hi: UInt64) {
    for i in leaves.indices.reversed() {
      guard leaves[i].extents.contains(where: { $0.unwritten && $0.lblk < hi && lo < $0.end }) else { continue }
      var out: [TreeExtent] = []
      for x in leaves[i].extents {
        guard x.unwritten, x.lblk < hi, lo < x.end else {
          out.append(x)
          continue
        }
        if let left = x.clipped(0, lo) { out.append(left) }
        var mid = x.clipped(lo, hi)!
        mid.unwritten = false
        out.append(mid)
        if let right = x.clipped(hi, UInt64.max) { out.append(right) }
      }
      leaves[i].extents = out
      rebalance(i, appended: false)
    }
  }

  /// Splits leaf `i` while it holds more than the capacity.
  private mutating func rebalance(_ i: Int, appended: Bool) {
    var i = i
    var rounds = 0
    while leaves[i].extents.count > leafCapacity {
      rounds += 1
      precondition(rounds <= leaves[i].extents.count, "leaf split did not converge")
      let all = leaves[i].extents
      let cut = appended ? all.count - 1 : all.count / 2
      leaves[i].extents = Array(all[..<cut])
      let right = ExtentLeaf(indexBlock: all[cut].lblk, extents: Array(all[cut...]))
      leaves.insert(right, at: i + 1)
      if leaves[i].extents.count <= leafCapacity { i += 1 }
    }
  }
}
