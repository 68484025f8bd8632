import FaultKit

/// A block allocator over a sorted free-space map. Setting it up fragmented (free space in runs of
/// N blocks, each followed by N used blocks) makes large allocations split, as in seed 000.
public struct ExtentAllocator: Sendable {
  public private(set) var free: [BlockRange] = []
  public let blockCount: UInt64
  /// Blocks before it hold the superblock and metadata.
  public let firstFree: UInt64
  /// The used runs between the free runs of a fragmented setup: the filler (other files' data,
  /// as far as the plan is concerned). Never freed.
  public private(set) var filler: [BlockRange] = []

  /// - Parameters:
  ///   - firstFree: blocks before it are used (superblock, metadata area).
  ///   - runBlocks: when set, free space comes in runs of this many blocks separated by used runs.
  public init(blockCount: UInt64, firstFree: UInt64, runBlocks: UInt64?) {
    self.blockCount = blockCount
    self.firstFree = min(firstFree, blockCount)
    guard let run = runBlocks, run > 0 else {
      if firstFree < blockCount { free = [BlockRange(start: firstFree, count: blockCount - firstFree)] }
      return
    }
    var b = firstFree
    while b < blockCount {
      free.append(BlockRange(start: b, count: min(run, blockCount - b)))
      if b + run < blockCount { filler.append(BlockRange(start: b + run, count: min(run, blockCount - b - run))) }
      b += 2 * run
    }
  }

  /// The snapshot's block accounting: the device's size (the claim that every block is
  /// accounted for), the free map, the filler, and the pinned runs: the superblock and metadata
  /// area before `firstFree`, then `pinned`, the engine's own (blocks freed until commit,
  /// allocations not yet in a tree). Mapped blocks are the engine's tree and ordered extents.
  public func reportBlocks(into s: inout Snapshot, pinned: [PinnedRange]) {
    s.deviceBlocks = blockCount
    s.free = free
    s.filler = filler
    if firstFree > 0 {
      s.pinned.append(PinnedRange(BlockRange(start: 0, count: firstFree), why: "superblock and metadata"))
    }
    s.pinned += pinned
  }

  public var freeBlocks: UInt64 { free.reduce(0) { $0 + $1.count } }

  /// Finds up to `want` contiguous blocks: the first free run that holds them all, else the largest
  /// run there is (the caller loops for the rest). Nil when nothing is free.
  public mutating func allocate(want: UInt64, maxBlocks: UInt64? = nil) -> BlockRange? {
    let want = min(want, maxBlocks ?? want)
    guard want > 0, !free.isEmpty else { return nil }
    var pick = free.firstIndex { $0.count >= want }
    if pick == nil {
      var best = 0
      for i in free.indices where free[i].count > free[best].count { best = i }
      pick = best
    }
    let i = pick!
    let got = BlockRange(start: free[i].start, count: min(want, free[i].count))
    if got.count == free[i].count {
      free.remove(at: i)
    } else {
      free[i] = BlockRange(start: free[i].start + got.count, count: free[i].count - got.count)
    }
    return got
  }

  /// Returns blocks to the free map, merging with neighbours.
  public mutating func release(_ r: BlockRange) {
    let i = free.firstIndex { $0.start > r.start } ?? free.count
    precondition(i == 0 || free[i - 1].end <= r.start, "double free of \(r)")
    precondition(i == free.count || r.end <= free[i].start, "double free of \(r)")
    free.insert(r, at: i)
    if i + 1 < free.count && free[i].end == free[i + 1].start {
      free[i] = BlockRange(start: free[i].start, count: free[i].count + free[i + 1].count)
      free.remove(at: i + 1)
    }
    if i > 0 && free[i - 1].end == free[i].start {
      free[i - 1] = BlockRange(start: free[i - 1].start, count: free[i - 1].count + free[i].count)
      free.remove(at: i)
    }
  }

  /// Marks specific blocks used (mounting: what the tree maps is not free).
  public mutating func claim(_ r: BlockRange) {
    guard let i = free.firstIndex(where: { $0.start <= r.start && r.end <= $0.end }) else {
      preconditionFailure("claiming \(r), which is not free")
    }
    let f = free[i]
    var parts: [BlockRange] = []
    if f.start < r.start { parts.append(BlockRange(start: f.start, count: r.start - f.start)) }
    if r.end < f.end { parts.append(BlockRange(start: r.end, count: f.end - r.end)) }
    free.replaceSubrange(i...i, with: parts)
  }

  /// Allocates and writes a setup file's pre-written contents (`bytes` of 0x5A in whole blocks,
  /// the last block's bytes past `bytes` zero, as write-back leaves a page past EOF) straight to
  /// the device, outside any page cache or transaction, and charges them to `space.used`. The
  /// engine maps the returned runs into its own tree and commits.
  /// - Returns: the runs in file order, each as (first file block, disk blocks).
  /// - Throws: ENOSPC when the device cannot hold the file.
  public mutating func prewrite(
    bytes: UInt64, device: BlockDevice, space: inout SpaceInfo
  ) throws(FSError) -> [(fileBlock: UInt64, disk: BlockRange)] {
    let blocks = (bytes + device.blockSize - 1) / device.blockSize
    let fill = [UInt8](repeating: 0x5A, count: Int(device.blockSize))
    var runs: [(fileBlock: UInt64, disk: BlockRange)] = []
    var cur: UInt64 = 0
    // Each allocation returns at least one block, so `blocks` iterations always suffice.
    for _ in 0..<blocks where cur < blocks {
      // not an error path: ModelSetup checks at load time that setup's files fit the free
      // space (a plan that does not is bad input, exit 2), and setup runs before any fault.
      guard let got = allocate(want: blocks - cur) else { throw FSError(.noSpace) }
      for b in 0..<got.count {
        let fileOffset = (cur + b) * device.blockSize
        let tail = bytes - fileOffset < device.blockSize ? Int(bytes - fileOffset) : fill.count
        var block = fill
        for i in tail..<block.count { block[i] = 0 }
        device.write(got.start + b, block[...])
      }
      runs.append((cur, got))
      space.used += got.count * device.blockSize
      cur += got.count
    }
    return runs
  }
}

/// Space accounting in bytes, as btrfs's space_info keeps it: `used` (in the tree), `reserved`
/// (allocated to ordered extents), `mayUse` (promised to delalloc). The engine keeps these
/// counters as it goes; the snapshot's `free` must come from somewhere else (the allocator's free
/// map, or what the tree holds), so that free + used + reserved = total is a real check, not an
/// identity. The counters never wrap: a release of more than is held is recorded (`underflows`).
public struct SpaceInfo: Sendable {
  public let name: String
  public let total: UInt64
  public var used: SpaceCounter = 0
  public var reserved: SpaceCounter = 0
  public var mayUse: SpaceCounter = 0

  public init(name: String, total: UInt64) {
    self.name = name
    self.total = total
  }

  /// Bytes neither used, reserved nor promised.
  public var available: UInt64 {
    let (a, o1) = used.value.addingReportingOverflow(reserved.value)
    let (taken, o2) = a.addingReportingOverflow(mayUse.value)
    return o1 || o2 || taken >= total ? 0 : total - taken
  }

  /// The record a snapshot carries; `free` is the caller's, from a source other than these
  /// counters.
  public func record(free: UInt64, backsData: Bool) -> SpaceRecord {
    var r = SpaceRecord(
      name: name, total: total, used: used.value, reserved: reserved.value, mayUse: mayUse.value, free: free,
      backsData: backsData)
    let broken =
      used.underflows.map { "used: \($0)" } + reserved.underflows.map { "reserved: \($0)" }
      + mayUse.underflows.map { "may-use: \($0)" }
    if !broken.isEmpty { r.underflows = broken }
    return r
  }
}
