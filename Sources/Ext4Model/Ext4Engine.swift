import FaultKit
import ModelKernel

/// The ext4-model engine instance of one scenario.
final class Ext4Engine: Engine, @unchecked Sendable {
  let setupConfig: Ext4Setup
  let bugs: Set<String>
  let kernel: Kernel
  let device: BlockDevice
  var allocator: ExtentAllocator
  var data: SpaceInfo
  var journal: Journal
  var inodes: [String: Ext4Inode] = [:]
  /// The orphan list: inodes unlinked to nlink 0 whose eviction has not freed them yet (evict in
  /// progress, or failed: then only the next mount's orphan processing frees them), in the order
  /// they were added. Their trees still map their blocks.
  var orphans: [Ext4Inode] = []
  /// The next inode number handed out (EXT4_FIRST_INO is 11, lost+found; the model's start at 12).
  var nextIno: UInt64 = 12
  /// Blocks freed since the last commit: mballoc does not hand them out again until the
  /// transaction that freed them commits (a crash before would leave the old tree pointing at them).
  var pinned: [BlockRange] = []
  /// Blocks ext4_ext_map_blocks has allocated and not yet inserted into the tree (a credit
  /// restart in between is a schedule point).
  var allocating: [BlockRange] = []
  /// Bytes of data space held by the fragmentation filler (other files' blocks).
  let fillerBytes: UInt64
  /// The root directory's i_rwsem, which the VFS holds across a create's lookup and the
  /// filesystem's create (lookup_open): two creates of one name serialise on it.
  let rootDir: RWSemaphore

  /// Credits a handle starts with (create, writeback of one run, punch, truncate, unlink).
  static let startCredits = 8
  /// Credits `ext4_ext_rm_leaf` makes sure of before removing one extent.
  static let removeCredits = 7
  /// Credits writeback makes sure of before inserting one allocated extent.
  static let insertCredits = 3
  /// The smallest journal a plan may ask for: a started handle plus one removal must fit.
  static let minJournalCredits = 16
  /// Pages one writeback run locks and maps together (a bound on mpage_prepare_extent_to_map).
  static let maxRunPages = 32

  var blockSize: UInt64 { device.blockSize }
  var harness: Harness { kernel.harness }

  init(_ ctx: EngineContext) throws {
    setupConfig = try Ext4Setup(ctx.setup)
    bugs = ctx.bugs
    kernel = Kernel(harness: ctx.harness, pageSize: setupConfig.blockSize)
    device = BlockDevice(blockCount: setupConfig.blocks, blockSize: setupConfig.blockSize)
    allocator = Ext4Engine.freshAllocator(setupConfig)
    let dataBlocks = setupConfig.blocks - Ext4Setup.reservedBlocks
    fillerBytes = (dataBlocks - allocator.freeBlocks) * setupConfig.blockSize
    data = SpaceInfo(name: "data", total: dataBlocks * setupConfig.blockSize)
    data.used = SpaceCounter(fillerBytes)
    journal = Journal(capacity: setupConfig.journalCredits, kernel: kernel)
    rootDir = RWSemaphore(kind: .inode, object: "/", kernel: kernel)
  }

  static func freshAllocator(_ s: Ext4Setup) -> ExtentAllocator { s.common.freshAllocator() }

  func bug(_ name: String) -> Bool { bugs.contains(name) }

  func makeInode(_ path: String, ino: UInt64? = nil) -> Ext4Inode {
    let n = ino ?? nextIno
    nextIno = max(nextIno, n + 1)
    return Ext4Inode(path: path, ino: n, kernel: kernel, leafCapacity: setupConfig.leafCapacity)
  }

  // MARK: Engine

  func setup() async throws {
    for f in setupConfig.common.files {
      let inode = makeInode(f.path)
      inodes[f.path] = inode
      for run in try allocator.prewrite(bytes: f.size, device: device, space: &data) {
        inode.tree.insert(TreeExtent(lblk: run.fileBlock, len: run.disk.count, pblk: run.disk.start, unwritten: false))
      }
      inode.size = f.size
    }
    commit()
    // `cached: true`: read through the engine's own read path (no fault is armed in setup).
    for path in setupConfig.common.cachedPaths { _ = try await perform(Operation(.read, path: path)) }
  }

  /// Runs `op` holding the inode its path names (as an open file holds it). The last holder of an
  /// unlinked inode evicts it when its operation ends (iput → ext4_evict_inode), in its task:
  /// unlink's own when nothing else holds the inode, else the one that looked the file up before
  /// the unlink and finishes after it.
  func perform(_ op: Operation) async throws -> [UInt8]? {
    guard let held = inodes[op.path] else { return try await dispatch(op) }
    held.refs += 1
    let result: Result<[UInt8]?, any Error>
    do {
      result = .success(try await dispatch(op))
    } catch {
      result = .failure(error)
    }
    held.refs -= 1
    if held.refs == 0 && held.unlinked { try await evict(held) }
    return try result.get()
  }

  private func dispatch(_ op: Operation) async throws -> [UInt8]? {
    switch op.kind {
    case .create:
      try await create(op.path)
    case .write:
      try await write(op.path, offset: op.offset ?? 0, length: op.length ?? 0, data: op.writeData)
    case .writeback:
      let inode = try lookup(op.path)
      try await writeback(inode, range: op.range(fileSize: inode.size))
    case .fsync:
      try await fsync(op.path)
    case .read:
      let inode = try lookup(op.path)
      return try await read(inode, range: op.range(fileSize: inode.size))
    case .unlink:
      try await unlink(op.path)
    case .punch:
      try await punch(op.path, offset: op.offset ?? 0, length: op.length ?? 0)
    case .truncate:
      try await truncate(op.path, size: op.size ?? 0)
    case .dropCaches:
      // POSIX_FADV_DONTNEED: clean, unlocked pages not under writeback go; the next read or
      // partial write of them reads the device (ext4_mpage_readpages, io.read).
      try lookup(op.path).mapping.dropClean()
    case .dioWrite, .dioRead, .mmapWrite, .migratePage, .corrupt, .pageMkwrite, .append, .fallocate,
      .mkdir,
      .link, .symlink, .setxattr, .removexattr, .zeroRange, .rename, .control:
      // not an error path: the operations not in ext4-model's list, which the plan loader rejects
      // (bad input, exit 2), so no plan runs them.
      throw FSError(.invalid)
    }
    return nil
  }

  func lookup(_ path: String) throws(FSError) -> Ext4Inode {
    guard let i = inodes[path] else { throw FSError(.noEntry) }
    return i
  }

  // MARK: Operations

  /// ext4_create as the VFS calls it: under the parent directory's i_rwsem (lookup_open) the name
  /// is looked up, then ext4_create starts a handle for the new inode and adds the name. A second
  /// create of the name waits on the directory and then finds it taken.
  func create(_ path: String) async throws {
    try await rootDir.lockExclusive()
    guard inodes[path] == nil else {
      rootDir.unlock()
      throw FSError(.exists)
    }
    let h: JournalHandle
    do {
      h = try await startHandle(Ext4Engine.startCredits)
    } catch let e as FSError {
      rootDir.unlock()
      throw e
    }
    journal.stop(h)
    inodes[path] = makeInode(path)
    rootDir.unlock()
  }

  /// ext4_buffered_write_iter with delayed allocation: under i_rwsem, page by page,
  /// ext4_da_write_begin locks the page (waiting out writeback), reads it in if the write covers
  /// it partly, and maps its block through ext4_da_map_blocks (reserving a delayed block over a
  /// hole); the copy dirties the page; write_end moves i_size. An error stops the write there
  /// (pages already copied keep the new bytes and their reservations).
  func write(_ path: String, offset: UInt64, length: UInt64, data: WriteData) async throws {
    let inode = try lookup(path)
    guard length > 0 else { return }
    try await inode.rwsem.lockExclusive()
    let ps = kernel.pageSize
    for index in (offset / ps)...((offset + length - 1) / ps) {
      let page = try await inode.mapping.grab(index)
      do {
        try await inode.mapping.waitWriteback(page)
        let pageStart = index * ps
        let partial = offset > pageStart || offset + length < pageStart + ps
        if !page.flags.contains(.uptodate) && partial && pageStart < inode.size { try await fill(page, inode) }
        try await daMapBlock(inode, index)
      } catch let e as FSError {
        if page.flags.contains(.locked) { inode.mapping.unlock(page) }
        if !page.flags.contains(.uptodate) { inode.mapping.remove(page) }
        inode.rwsem.unlock()
        throw e
      }
      page.store(data, over: ByteRange(start: offset, length: length))
      page.flags.formUnion([.uptodate, .dirty])
      inode.size = max(inode.size, min(offset + length, (index + 1) * ps))
      inode.mapping.unlock(page)
    }
    inode.rwsem.unlock()
  }

  /// Reads a page's block from the device (zeros over a hole, an unwritten or a delayed block)
  /// and marks it uptodate. The caller holds the page lock.
  func fill(_ page: Page, _ inode: Ext4Inode) async throws {
    let m = try await mapBlocks(inode, page.index, 1, create: false, handle: nil, caller: "read")
    guard m.status == .written, let pblk = m.pblk else {
      page.data = Array(repeating: 0, count: Int(kernel.pageSize))
      page.flags.insert(.uptodate)
      return
    }
    if case .fail(let err) = try await harness.hit(Ext4Model.Point.ioRead) { throw err }
    page.data = try device.read(pblk)
    page.flags.insert(.uptodate)
  }

  /// Buffered read: uptodate pages from the cache; others instantiated under the invalidate lock
  /// (shared) and filled under the page lock.
  func read(_ inode: Ext4Inode, range r: ByteRange) async throws -> [UInt8] {
    try await inode.mapping.read(r, size: inode.size, invalidateLock: inode.invalidateLock) {
      try await self.fill($0, inode)
    }
  }

  /// ext4_sync_file: write back every dirty page, report the mapping error, else force a commit.
  func fsync(_ path: String) async throws {
    let inode = try lookup(path)
    var first: FSError?
    do {
      try await writeback(inode, range: ByteRange(0, UInt64.max / 2), wait: true)
    } catch let e as FSError {
      first = e
    }
    if let e = inode.mapping.error {
      inode.mapping.error = nil
      first = first ?? e
    }
    if first == nil {
      if case .fail(let e) = try await harness.hit(Ext4Model.Point.txnCommit) {
        first = e
      } else {
        commit()
      }
    }
    if let first { throw first }
  }

  /// Returns the reservation of `blocks` delayed blocks that left the status cache.
  func releaseDelayed(_ blocks: UInt64) {
    data.mayUse -= blocks * blockSize
  }

  /// Frees blocks the tree no longer maps: pinned until the next commit.
  func pin(_ r: BlockRange) {
    pinned.append(r)
  }

  /// A journal commit (jbd2, forced by fsync): every inode's size and tree become what recover
  /// mounts; blocks freed in the committed transactions become allocatable.
  func commit() {
    var files: [String: Ext4CommittedState.File] = [:]
    for (path, inode) in inodes {
      files[path] = Ext4CommittedState.File(ino: inode.ino, size: inode.size, extents: inode.tree.extents)
    }
    // The orphan list is on disk too (s_last_orphan, or the orphan file): whatever an orphan's
    // tree still maps at this commit, the next mount's orphan processing frees.
    let orphaned = orphans.map { Ext4CommittedState.File(ino: $0.ino, size: $0.size, extents: $0.tree.extents) }
    device.committedRoot = Ext4CommittedState(files: files, orphans: orphaned)
    for r in pinned.sorted(by: { $0.start < $1.start }) {
      allocator.release(r)
      data.used -= r.count * blockSize
    }
    pinned = []
    journal.close()
  }

  /// Crash and remount: memory is gone; the last commit's trees and sizes are mounted, the
  /// allocator rebuilt from them; the status caches start empty. Orphan processing
  /// (ext4_orphan_cleanup) then evicts every inode on the committed orphan list: the blocks its
  /// tree still maps are freed (the model's orphan processing has no fault points).
  func recover() async throws {
    inodes = [:]
    orphans = []
    pinned = []
    allocating = []
    allocator = Ext4Engine.freshAllocator(setupConfig)
    data.used = SpaceCounter(fillerBytes)
    data.reserved = 0
    data.mayUse = 0
    journal = Journal(capacity: setupConfig.journalCredits, kernel: kernel)
    guard let root = device.committedRoot as? Ext4CommittedState else { return }
    for path in root.files.keys.sorted() {
      let f = root.files[path]!
      let inode = makeInode(path, ino: f.ino)
      inode.size = f.size
      for e in f.extents {
        inode.tree.insert(e)
        allocator.claim(e.disk)
        data.used += e.len * blockSize
      }
      inodes[path] = inode
    }
  }

  func snapshot() -> Snapshot {
    var s = Snapshot()
    s.pageSize = kernel.pageSize
    s.copyOnWrite = false
    let bs = blockSize
    rootDir.report(into: &s)
    for path in inodes.keys.sorted() {
      let inode = inodes[path]!
      s.files.append(FileRecord(path: path, size: inode.size, pendingError: inode.mapping.unreported?.errno))
      inode.rwsem.report(into: &s)
      inode.invalidateLock.report(into: &s)
      inode.dataSem.report(into: &s)
      inode.mapping.report(into: &s)
      for e in inode.tree.extents {
        s.extents.append(
          ExtentRecord(
            source: .tree, file: path, range: ByteRange(start: e.lblk * bs, length: e.len * bs), disk: e.disk,
            state: e.unwritten ? "unwritten" : "written"))
      }
      for e in inode.cache.entries {
        let range = ByteRange(start: e.lblk * bs, length: e.len * bs)
        let disk = e.pblk.map { BlockRange(start: $0, count: e.len) }
        s.extents.append(ExtentRecord(source: .cache, file: path, range: range, disk: disk, state: e.status.rawValue))
        if e.status == .delayed { s.extents.append(ExtentRecord(source: .delalloc, file: path, range: range)) }
      }
    }
    // An orphan's tree still maps its blocks (on disk, inode N on the orphan list): they are
    // neither free nor leaked. It has no name, so no file record, and no page or status cache.
    for inode in orphans {
      for e in inode.tree.extents {
        s.extents.append(
          ExtentRecord(
            source: .tree, file: inode.orphanName, range: ByteRange(start: e.lblk * bs, length: e.len * bs),
            disk: e.disk, state: e.unwritten ? "unwritten" : "written"))
      }
    }
    journal.report(into: &s)
    s.space = [data.record(free: allocator.freeBlocks * blockSize, backsData: true)]
    allocator.reportBlocks(
      into: &s,
      pinned: pinned.map { PinnedRange($0, why: "freed, pinned until commit") }
        + allocating.map { PinnedRange($0, why: "allocated by ext4_mb_new_blocks, not yet in the tree") })
    s.assertions = kernel.broken
    s.normalize()
    return s
  }
}
