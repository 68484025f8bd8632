import FaultKit
import ModelKernel

/// The xfs-model engine instance of one scenario.
final class XfsEngine: Engine, @unchecked Sendable {
  let setupConfig: ModelSetup
  let bugs: Set<String>
  let kernel: Kernel
  let device: BlockDevice
  var allocator: ExtentAllocator
  var data: SpaceInfo
  /// Blocks freed since the last log force: not reusable until it makes the old map unreachable.
  var pinned: [BlockRange] = []
  var inodes: [String: XfsInode] = [:]
  let fillerBytes: UInt64

  var blockSize: UInt64 { device.blockSize }
  var pageSize: UInt64 { kernel.pageSize }
  var harness: Harness { kernel.harness }

  init(_ ctx: EngineContext) throws {
    setupConfig = try ModelSetup(ctx.setup)
    bugs = ctx.bugs
    kernel = Kernel(harness: ctx.harness, pageSize: setupConfig.blockSize)
    device = BlockDevice(blockCount: setupConfig.blocks, blockSize: setupConfig.blockSize)
    allocator = setupConfig.freshAllocator()
    let dataBlocks = setupConfig.blocks - ModelSetup.reservedBlocks
    fillerBytes = (dataBlocks - allocator.freeBlocks) * setupConfig.blockSize
    data = SpaceInfo(name: "data", total: dataBlocks * setupConfig.blockSize)
    data.used = SpaceCounter(fillerBytes)
  }

  func bug(_ name: String) -> Bool { bugs.contains(name) }

  func lookup(_ path: String) throws(FSError) -> XfsInode {
    guard let i = inodes[path] else { throw FSError(.noEntry) }
    return i
  }

  // MARK: Engine

  func setup() async throws {
    for f in setupConfig.files {
      let inode = XfsInode(path: f.path, kernel: kernel)
      inodes[f.path] = inode
      for run in try allocator.prewrite(bytes: f.size, device: device, space: &data) {
        let r = ByteRange(start: run.fileBlock * blockSize, length: run.disk.count * blockSize)
        inode.replace(r, with: ForkExtent(range: r, disk: run.disk), blockSize: blockSize)
      }
      inode.size = f.size
    }
    commit()
    // `cached: true`: read through the engine's own read path (no fault is armed in setup).
    for path in setupConfig.cachedPaths { _ = try await perform(Operation(.read, path: path)) }
  }

  func perform(_ op: Operation) async throws -> [UInt8]? {
    let inode = op.kind == .create ? nil : try lookup(op.path)
    switch op.kind {
    case .create:
      guard inodes[op.path] == nil else { throw FSError(.exists) }
      inodes[op.path] = XfsInode(path: op.path, kernel: kernel)
    case .write:
      try await write(inode!, offset: op.offset ?? 0, length: op.length ?? 0, data: op.writeData)
    case .pageMkwrite:
      try await pageMkwrite(inode!, offset: op.offset ?? 0, length: op.length ?? 0, data: op.writeData)
    case .writeback:
      try await writeback(inode!, range: op.range(fileSize: inode!.size))
    case .fsync:
      try await fsync(inode!)
    case .read:
      return try await read(inode!, range: op.range(fileSize: inode!.size))
    case .unlink:
      try await unlink(inode!)
    case .punch:
      try await punch(inode!, ByteRange(start: op.offset ?? 0, length: op.length ?? 0))
    case .truncate:
      try await truncate(inode!, to: op.size ?? 0)
    case .dropCaches:
      for i in inode!.mapping.indexes {
        guard let p = inode!.mapping.lookup(i), p.flags.isDisjoint(with: [.locked, .dirty, .writeback]) else {
          continue
        }
        inode!.mapping.remove(p)
      }
    case .dioWrite, .dioRead, .mmapWrite, .migratePage, .corrupt, .append, .fallocate, .mkdir, .link, .symlink,
      .setxattr,
      .removexattr, .zeroRange, .rename, .control:
      // not an error path: the operations not in xfs-model's list, which the plan loader rejects
      // (bad input, exit 2), so no plan runs them.
      throw FSError(.invalid)
    }
    return nil
  }

  // MARK: Reading

  /// Fills a page from the fork: written blocks from the device (checksums verified), holes and
  /// delalloc as zeros. `map`, when given, is the mapping the caller holds and is what decides
  /// (a stale one decides wrongly: that is the revalidation bug).
  func fill(_ page: Page, _ inode: XfsInode, using map: IOMap? = nil) async throws {
    for b in 0..<(pageSize / blockSize) {
      let off = page.index * pageSize + b * blockSize
      let lo = Int(b * blockSize)
      var block: UInt64?
      if let map, map.range.start <= off && off < map.range.end {
        if case .written(let d) = map.kind { block = d.start + (off - map.range.start) / blockSize }
      } else if let e = inode.extent(at: off), let d = e.disk {
        block = d.start + (off - e.range.start) / blockSize
      }
      guard let block else {
        page.data.replaceSubrange(lo..<lo + Int(blockSize), with: repeatElement(0, count: Int(blockSize)))
        continue
      }
      if case .fail(let e) = try await harness.hit(XfsModel.Point.ioRead) { throw e }
      page.data.replaceSubrange(lo..<lo + Int(blockSize), with: try device.read(block))
    }
    page.flags.insert(.uptodate)
  }

  func read(_ inode: XfsInode, range r: ByteRange) async throws -> [UInt8] {
    try await inode.mapping.read(r, size: inode.size, invalidateLock: inode.invalidateLock) {
      try await self.fill($0, inode)
    }
  }

  // MARK: Durability

  /// xfs_file_fsync: write back and wait, report the mapping error, force the log.
  func fsync(_ inode: XfsInode) async throws {
    var first: FSError?
    do {
      try await writeback(inode, range: ByteRange(0, UInt64.max / 2))
    } catch let e as FSError {
      first = e
    }
    // file_write_and_wait_range: wait for every page under writeback, whoever started it; its
    // error, if any, is then on the mapping.
    for i in inode.mapping.indexes {
      if let page = inode.mapping.lookup(i) { try await inode.mapping.waitWriteback(page) }
    }
    if let e = inode.mapping.error {
      inode.mapping.error = nil
      first = first ?? e
    }
    if first == nil {
      if case .fail(let e) = try await harness.hit(XfsModel.Point.txnCommit) { first = e } else { commit() }
    }
    if let first { throw first }
  }

  /// The log force: the written extents and sizes become what a crash mounts; pinned blocks free.
  func commit() {
    var files: [String: (size: UInt64, extents: [ForkExtent])] = [:]
    for (path, inode) in inodes {
      files[path] = (
        inode.size, inode.extents(in: ByteRange(0, UInt64.max / 2), blockSize: blockSize).filter { !$0.isDelalloc }
      )
    }
    device.committedRoot = XfsCommitted(files: files)
    for r in pinned {
      allocator.release(r)
      data.used -= r.count * blockSize
    }
    pinned = []
  }

  /// Frees what a fork change removed: written blocks pinned until the log force, delalloc
  /// reservations returned now.
  func release(_ removed: [ForkExtent]) {
    for x in removed {
      if let d = x.disk { pinned.append(d) } else { data.mayUse -= x.range.length }
    }
  }

  func unlink(_ inode: XfsInode) async throws {
    try await inode.iolock.lockExclusive()
    for index in inode.mapping.indexes {
      guard let page = inode.mapping.lookup(index) else { continue }
      try await inode.mapping.lock(page)
      try await inode.mapping.waitWriteback(page)
      inode.mapping.remove(page)
      inode.mapping.unlock(page)
    }
    release(inode.replace(ByteRange(0, UInt64.max / 2), with: nil, blockSize: blockSize))
    inodes[inode.path] = nil
    inode.iolock.unlock()
  }

  func recover() async throws {
    inodes = [:]
    pinned = []
    allocator = setupConfig.freshAllocator()
    data.used = SpaceCounter(fillerBytes)
    data.reserved = 0
    data.mayUse = 0
    guard let root = device.committedRoot as? XfsCommitted else { return }
    for path in root.files.keys.sorted() {
      let f = root.files[path]!
      let inode = XfsInode(path: path, kernel: kernel)
      inode.size = f.size
      inode.load(f.extents)
      for e in f.extents {
        allocator.claim(e.disk!)
        data.used += e.range.length
      }
      inodes[path] = inode
    }
  }

  // MARK: Snapshot

  func snapshot() -> Snapshot {
    var s = Snapshot()
    s.pageSize = pageSize
    for path in inodes.keys.sorted() {
      let inode = inodes[path]!
      s.files.append(FileRecord(path: path, size: inode.size, pendingError: inode.mapping.unreported?.errno))
      inode.iolock.report(into: &s)
      inode.ilock.report(into: &s)
      inode.invalidateLock.report(into: &s)
      inode.mapping.report(into: &s)
      for e in inode.extents(in: ByteRange(0, UInt64.max / 2), blockSize: blockSize) {
        if let d = e.disk {
          s.extents.append(ExtentRecord(source: .tree, file: path, range: e.range, disk: d, state: "written"))
        } else {
          s.extents.append(ExtentRecord(source: .delalloc, file: path, range: e.range))
        }
      }
    }
    s.space = [data.record(free: allocator.freeBlocks * blockSize, backsData: true)]
    allocator.reportBlocks(into: &s, pinned: pinned.map { PinnedRange($0, why: "freed, pinned until the log force") })
    s.assertions = kernel.broken
    s.normalize()
    return s
  }
}
