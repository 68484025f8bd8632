import FaultKit
import ModelKernel

/// The btrfs-model engine instance of one scenario.
final class BtrfsEngine: Engine, @unchecked Sendable {
  let setupConfig: BtrfsSetup
  let bugs: Set<String>
  let kernel: Kernel
  let device: BlockDevice
  var allocator: ExtentAllocator
  var data: SpaceInfo
  var metadata: SpaceInfo
  /// Blocks freed since the last commit: not reusable until the commit makes the old root unreachable.
  var pinned: [BlockRange] = []
  var inodes: [String: BtrfsInode] = [:]
  var endio: WorkQueue
  /// The writepage fixup worker (btrfs_writepage_fixup_worker).
  var fixup: WorkQueue
  /// Pages a queued fixup holds a reference to (folio_get in btrfs_writepage_cow_fixup, folio_put
  /// at the end of the worker): migration cannot move them.
  var fixupHeld: [Page] = []
  static let endioName = "endio-write"
  static let fixupName = "btrfs-fixup"
  /// Bytes of data space held by the fragmentation filler (other files' blocks).
  let fillerBytes: UInt64
  /// Writeback passes fsync makes while pages wait for the fixup worker: a bound, so a page that
  /// never gets its reservation (a redirty loop) ends fsync instead of spinning.
  static let fsyncPasses = 4
  /// Metadata reserved by each buffered write while it runs.
  let metadataPerWrite: UInt64 = 16 << 10

  var blockSize: UInt64 { device.blockSize }
  var harness: Harness { kernel.harness }

  init(_ ctx: EngineContext) throws {
    setupConfig = try BtrfsSetup(ctx.setup)
    bugs = ctx.bugs
    kernel = Kernel(harness: ctx.harness, pageSize: setupConfig.blockSize)
    device = BlockDevice(blockCount: setupConfig.blocks, blockSize: setupConfig.blockSize)
    allocator = BtrfsEngine.freshAllocator(setupConfig)
    let dataBlocks = setupConfig.blocks - ModelSetup.reservedBlocks
    fillerBytes = (dataBlocks - allocator.freeBlocks) * setupConfig.blockSize
    data = SpaceInfo(name: "data", total: dataBlocks * setupConfig.blockSize)
    data.used = SpaceCounter(fillerBytes)
    metadata = SpaceInfo(name: "metadata", total: setupConfig.metadataBytes)
    endio = WorkQueue(name: BtrfsEngine.endioName, kernel: kernel)
    fixup = WorkQueue(name: BtrfsEngine.fixupName, kernel: kernel)
  }

  static func freshAllocator(_ s: BtrfsSetup) -> ExtentAllocator { s.common.freshAllocator() }

  func bug(_ name: String) -> Bool { bugs.contains(name) }

  // MARK: Engine

  func setup() async throws {
    endio.start()
    fixup.start()
    for f in setupConfig.files {
      let inode = BtrfsInode(path: f.path, kernel: kernel)
      inodes[f.path] = inode
      metadata.used += BtrfsEngine.inodeItemBytes
      for run in try allocator.prewrite(bytes: f.size, device: device, space: &data) {
        let range = ByteRange(start: run.fileBlock * blockSize, length: run.disk.count * blockSize)
        _ = insertExtent(inode, FileExtent(range: range, disk: run.disk))
      }
      inode.size = f.size
    }
    commitRoot()
    // `cached: true`: read through the engine's own read path (no fault is armed in setup).
    for path in setupConfig.common.cachedPaths { _ = try await perform(Operation(.read, path: path)) }
  }

  func perform(_ op: Operation) async throws -> [UInt8]? {
    switch op.kind {
    case .create:
      try await create(op.path)
    case .write:
      try await write(op.path, offset: op.offset ?? 0, length: op.length ?? 0, payload: op.writeData)
    case .writeback:
      let inode = try lookup(op.path)
      _ = try await filemapWrite(inode, range: op.range(fileSize: inode.size))
    case .fsync:
      try await fsync(op.path)
    case .read:
      let inode = try lookup(op.path)
      return try await read(inode, range: op.range(fileSize: inode.size))
    case .unlink:
      try await unlink(op.path)
    case .dioWrite:
      try await dioWrite(op.path, offset: op.offset ?? 0, length: op.length ?? 0, payload: op.writeData)
    case .dioRead:
      let inode = try lookup(op.path)
      return try await dioRead(inode, range: op.range(fileSize: inode.size))
    case .mmapWrite:
      try await mmapWrite(op.path, offset: op.offset ?? 0, length: op.length ?? 0, payload: op.writeData)
    case .migratePage:
      try await migratePage(op.path, offset: op.offset ?? 0)
    case .dropCaches:
      try lookup(op.path).mapping.dropClean()
    case .punch, .truncate, .pageMkwrite, .append, .fallocate, .mkdir, .link, .symlink, .setxattr, .removexattr,
      .zeroRange, .rename, .control:
      // not an error path: the operations not in btrfs-model's list, which the plan loader rejects
      // (bad input, exit 2), so no plan runs them.
      throw FSError(.invalid)
    case .corrupt:
      let inode = try lookup(op.path)
      guard let e = inode.extent(at: op.offset ?? 0) else { throw FSError(.invalid) }
      device.corrupt(e.disk.start + ((op.offset ?? 0) - e.range.start) / blockSize)
    }
    return nil
  }

  func lookup(_ path: String) throws(FSError) -> BtrfsInode {
    guard let i = inodes[path] else { throw FSError(.noEntry) }
    return i
  }

  // MARK: Operations

  func create(_ path: String) async throws {
    guard inodes[path] == nil else { throw FSError(.exists) }
    try await reserveMetadata(metadataPerWrite)
    metadata.mayUse -= metadataPerWrite
    inodes[path] = BtrfsInode(path: path, kernel: kernel)
    metadata.used += BtrfsEngine.inodeItemBytes
  }

  /// btrfs_buffered_write: reserve delalloc space for the whole range; lock its pages (waiting
  /// for writeback) and its extent range (waiting out ordered extents, as
  /// lock_and_cleanup_extent_if_need does); copy; then btrfs_dirty_pages: clear any DELALLOC already
  /// there, returning its reservation, and set DELALLOC over the range.
  func write(_ path: String, offset: UInt64, length: UInt64, payload: WriteData) async throws {
    let inode = try lookup(path)
    guard length > 0 else { return }
    try await inode.rwsem.lockExclusive()
    do {
      try await bufferedWrite(inode, offset: offset, length: length, payload: payload)
    } catch let e as FSError {
      inode.rwsem.unlock()
      throw e
    }
    inode.rwsem.unlock()
  }

  /// The buffered write with i_rwsem held by the caller (write, and direct I/O falling back).
  func bufferedWrite(_ inode: BtrfsInode, offset: UInt64, length: UInt64, payload: WriteData) async throws {
    let range = ByteRange(offset / blockSize * blockSize, (offset + length + blockSize - 1) / blockSize * blockSize)
    do {
      if case .fail(let e) = try await harness.hit(BtrfsModel.Point.reserveData) { throw e }
      guard data.available >= range.length else { throw FSError(.noSpace) }
      data.mayUse += range.length
      do {
        try await reserveMetadata(metadataPerWrite)
      } catch let e as FSError {
        data.mayUse -= range.length
        throw e
      }
    }
    let pages = try await lockPagesAndRange(inode, range)
    let ps = kernel.pageSize
    // prepare_pages: the partial pages over existing data are read in before anything is copied,
    // so a read that fails leaves no page dirtied whose reservation the error path returns.
    for page in pages {
      let pageStart = page.index * ps
      let partial = offset > pageStart || offset + length < pageStart + ps
      if !page.flags.contains(.uptodate) && partial && pageStart < inode.size {
        do {
          try await fill(page, inode)
        } catch let e as FSError {
          inode.ioTree.unlock(range)
          for p in pages { inode.mapping.unlock(p) }
          data.mayUse -= range.length
          metadata.mayUse -= metadataPerWrite
          throw e
        }
      }
    }
    for page in pages {
      page.store(payload, over: ByteRange(start: offset, length: length))
      page.flags.formUnion([.uptodate, .dirty])
    }
    // btrfs_dirty_pages: EXTENT_DELALLOC|EXTENT_DO_ACCOUNTING cleared first, then set.
    let already = inode.ioTree.ranges(with: .delalloc).compactMap { $0.intersection(range) }.reduce(0) {
      $0 + $1.length
    }
    data.mayUse -= already
    inode.ioTree.clear(range, .delalloc)
    inode.ioTree.set(range, .delalloc)
    inode.ioTree.unlock(range)
    for p in pages { inode.mapping.unlock(p) }
    inode.size = max(inode.size, offset + length)
    metadata.mayUse -= metadataPerWrite
  }

  /// prepare_pages + lock_and_cleanup_extent_if_need: locks every page of `range` in order,
  /// waiting for writeback, then the extent range; if an ordered extent overlaps, drops both,
  /// waits for it and starts again.
  private func lockPagesAndRange(_ inode: BtrfsInode, _ range: ByteRange) async throws -> [Page] {
    let ps = kernel.pageSize
    for _ in 0..<WorkQueue.maxItems {
      var pages: [Page] = []
      for index in (range.start / ps)..<(range.end / ps) {
        let page = try await inode.mapping.grab(index)
        try await inode.mapping.waitWriteback(page)
        pages.append(page)
      }
      try await inode.ioTree.lock(range)
      guard let oe = inode.ordered.first(where: { $0.range.overlaps(range) }) else { return pages }
      inode.ioTree.unlock(range)
      for p in pages { inode.mapping.unlock(p) }
      try await oe.completion.wait("ordered extent \(inode.path) \(oe.range)")
    }
    preconditionFailure("buffered write could not get past ordered extents of \(inode.path) \(range)")
  }

  func reserveMetadata(_ bytes: UInt64) async throws {
    if case .fail(let e) = try await harness.hit(BtrfsModel.Point.reserveMetadata) { throw e }
    guard metadata.available >= bytes else { throw FSError(.noSpace) }
    metadata.mayUse += bytes
  }

  /// Reads a page's blocks from the device (or zeros for holes) and marks it uptodate.
  func fill(_ page: Page, _ inode: BtrfsInode) async throws {
    let ps = kernel.pageSize
    // btrfs_lock_and_flush_ordered_range: a read-in waits out ordered extents over its page, so
    // it maps the extents they put in the tree, not the old ones (a read racing a direct write
    // cached the old bytes). Bounded: each wait ends one extent.
    let pageRange = ByteRange(start: page.index * ps, length: ps)
    for _ in 0..<WorkQueue.maxItems {
      guard let oe = inode.ordered.first(where: { $0.range.overlaps(pageRange) }) else { break }
      try await oe.completion.wait("ordered extent \(inode.path) \(oe.range)")
    }
    for b in 0..<(ps / blockSize) {
      let off = page.index * ps + b * blockSize
      guard let e = inode.extent(at: off) else {
        for k in 0..<Int(blockSize) { page.data[Int(b * blockSize) + k] = 0 }
        continue
      }
      if case .fail(let err) = try await harness.hit(BtrfsModel.Point.ioRead) { throw err }
      let block = e.disk.start + (off - e.range.start) / blockSize
      let bytes = try device.read(block)
      page.data.replaceSubrange(Int(b * blockSize)..<Int((b + 1) * blockSize), with: bytes)
    }
    page.flags.insert(.uptodate)
  }

  /// Buffered read: uptodate pages from the cache, others filled from the device under the page lock.
  func read(_ inode: BtrfsInode, range r: ByteRange) async throws -> [UInt8] {
    try await inode.mapping.read(r, size: inode.size) { try await self.fill($0, inode) }
  }

  /// btrfs_sync_file: write back, wait for ordered extents, commit, report the mapping error.
  func fsync(_ path: String) async throws {
    let inode = try lookup(path)
    try await inode.rwsem.lockExclusive()
    var first: FSError?
    // btrfs_fdatawrite_range until nothing waits for the fixup worker: a page dirtied behind
    // btrfs's back is redirtied for the worker, which reserves for it; the next pass writes it.
    do {
      for _ in 0..<BtrfsEngine.fsyncPasses {
        if try await filemapWrite(inode, range: ByteRange(0, UInt64.max / 2)) == 0 { break }
        try await fixup.flush()
      }
    } catch let e as FSError {
      first = e
    }
    // btrfs_wait_ordered_range: every ordered extent of the file must finish.
    for oe in inode.ordered {
      try await oe.completion.wait("ordered extent \(inode.path) \(oe.range)")
    }
    // file_check_and_advance_wb_err; the bug switch checks the mapping the pre-4.13 way.
    if bug("fsync-clears-error-for-everyone") {
      if let e = inode.mapping.testAndClearError() { first = first ?? e }
    } else if let e = inode.mapping.error {
      inode.mapping.error = nil
      first = first ?? e
    }
    if first == nil {
      if case .fail(let e) = try await harness.hit(BtrfsModel.Point.txnCommit) {
        first = e
      } else {
        commitRoot()
      }
    }
    inode.rwsem.unlock()
    if let first { throw first }
  }

  /// Unlink and evict: drop the name, truncate the page cache (waiting on page locks and
  /// writeback), wait for ordered extents, release delalloc, free the extents (pinned until commit).
  func unlink(_ path: String) async throws {
    let inode = try lookup(path)
    try await inode.rwsem.lockExclusive()
    do {
      try await reserveMetadata(metadataPerWrite)
    } catch let e as FSError {
      inode.rwsem.unlock()
      throw e
    }
    metadata.mayUse -= metadataPerWrite
    // truncate_inode_pages_final
    for index in inode.mapping.indexes {
      guard let page = inode.mapping.lookup(index) else { continue }
      try await inode.mapping.lock(page)
      if !bug("evict-skips-writeback-wait") { try await inode.mapping.waitWriteback(page) }
      inode.mapping.remove(page)
      inode.mapping.unlock(page)
    }
    for oe in inode.ordered {
      try await oe.completion.wait("ordered extent \(inode.path) \(oe.range)")
    }
    let delalloc = inode.ioTree.ranges(with: .delalloc).reduce(0) { $0 + $1.length }
    data.mayUse -= delalloc
    inode.ioTree.removeAll()
    pinned += inode.extents.map(\.disk)
    metadata.used -= BtrfsEngine.inodeItemBytes + UInt64(inode.extents.count) * BtrfsEngine.extentItemBytes
    inode.extents = []
    inodes[path] = nil
    inode.rwsem.unlock()
  }

  /// Writes the current tree as the committed root and unpins freed blocks.
  func commitRoot() {
    var files: [String: CommittedRoot.File] = [:]
    for (path, inode) in inodes { files[path] = CommittedRoot.File(size: inode.size, extents: inode.extents) }
    device.committedRoot = CommittedRoot(files: files)
    for r in pinned {
      allocator.release(r)
      data.used -= r.count * blockSize
    }
    pinned = []
  }

  /// Crash and remount: everything in memory is gone; the committed root is what is left.
  func recover() async throws {
    endio.drop()
    fixup.drop()
    fixupHeld = []
    inodes = [:]
    pinned = []
    allocator = BtrfsEngine.freshAllocator(setupConfig)
    data.used = SpaceCounter(fillerBytes)
    data.reserved = 0
    data.mayUse = 0
    metadata.mayUse = 0
    metadata.reserved = 0
    metadata.used = 0
    guard let root = device.committedRoot as? CommittedRoot else { return }
    for path in root.files.keys.sorted() {
      let f = root.files[path]!
      let inode = BtrfsInode(path: path, kernel: kernel)
      inode.size = f.size
      inode.extents = f.extents
      for e in f.extents {
        allocator.claim(e.disk)
        data.used += e.disk.count * blockSize
      }
      inodes[path] = inode
    }
    metadata.used = SpaceCounter(treeItemBytes())
    endio = WorkQueue(name: BtrfsEngine.endioName, kernel: kernel)
    endio.start()
    fixup = WorkQueue(name: BtrfsEngine.fixupName, kernel: kernel)
    fixup.start()
  }

  func snapshot() -> Snapshot {
    var s = Snapshot()
    s.pageSize = kernel.pageSize
    s.copyOnWrite = true
    for path in inodes.keys.sorted() {
      let inode = inodes[path]!
      s.files.append(FileRecord(path: path, size: inode.size, pendingError: inode.mapping.unreported?.errno))
      inode.rwsem.report(into: &s)
      inode.mapping.report(into: &s)
      inode.ioTree.report(into: &s)
      for e in inode.extents {
        s.extents.append(ExtentRecord(source: .tree, file: path, range: e.range, disk: e.disk, state: "written"))
      }
      for r in inode.ioTree.ranges(with: .delalloc) {
        s.extents.append(ExtentRecord(source: .delalloc, file: path, range: r))
      }
      for oe in inode.ordered {
        s.extents.append(
          ExtentRecord(
            source: .ordered, file: path, range: oe.range, disk: oe.disk, state: oe.ioerr ? "ioerr" : "pending"))
      }
    }
    s.space = [
      data.record(free: allocator.freeBlocks * blockSize, backsData: true),
      metadataRecord(),
    ]
    allocator.reportBlocks(into: &s, pinned: pinned.map { PinnedRange($0, why: "freed, pinned until commit") })
    s.assertions = kernel.broken
    s.pendingWork = endio.pending + fixup.pending
    s.normalize()
    return s
  }
}
