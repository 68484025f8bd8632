import Testing

@testable import FaultKit

@Suite("Snapshot diff")
struct DiffTests {
  @Test("lines read without a legend")
  func lines() {
    var a = Snapshot()
    a.files = [FileRecord(path: "/a", size: 0)]
    a.space = [SpaceRecord(name: "data", total: 100, used: 0, reserved: 0, mayUse: 0, free: 100, backsData: true)]
    a.pages = [PageRecord(file: "/a", index: 3, flags: [.uptodate, .dirty])]
    var b = a
    b.files = [FileRecord(path: "/a", size: 65536, pendingError: .noSpace)]
    b.locks = [LockRecord(kind: .page, object: "/a#3", holders: [Holder(task: "writer", op: 2, opName: "writeback")])]
    b.pages = [PageRecord(file: "/a", index: 3, flags: [.uptodate, .locked])]
    b.extents = [
      ExtentRecord(
        source: .ordered, file: "/a", range: ByteRange(0, 16384), disk: BlockRange(start: 16, count: 4),
        state: "pending")
    ]
    b.space[0].mayUse = 49152
    let d = SnapshotDiff(from: a, to: b)
    #expect(
      d.lines.map(\.text) == [
        "file /a size: 0 -> 64KiB",
        "file /a mapping error: none -> ENOSPC",
        "page /a#3 locked: unlocked -> locked (holder: writer in writeback #2)",
        "+ ordered /a [0, 16KiB) -> blocks 16-19 (pending)",
        "space data may-use: 0 -> 48KiB",
        "page /a#3 dirty: set -> clear",
      ])
    #expect(
      d.lines(about: "page /a#3") == [
        "page /a#3 locked: unlocked -> locked (holder: writer in writeback #2)", "page /a#3 dirty: set -> clear",
      ])
    #expect(d.lines(about: "page /a#30").isEmpty)
    #expect(SnapshotDiff(from: b, to: b).isEmpty)
  }
}

@Suite("Invariants")
struct InvariantTests {
  func ctx(
    _ base: Snapshot, _ now: Snapshot, tasks: [TaskStatus], moment: Moment = .atRest, stop: StopReason? = .quiescent
  ) -> InvariantContext {
    InvariantContext(
      moment: moment, baseline: base, current: now, diff: SnapshotDiff(from: base, to: now), tasks: tasks, stop: stop)
  }
  let done = TaskStatus(
    name: "writer", kind: .plan, inOp: nil, opName: "fsync", finished: true, blockedOn: nil, idle: false)

  @Test("a lock whose taker finished is leaked; one held inside a blocked op is not")
  func locksReleased() {
    var now = Snapshot()
    now.locks = [LockRecord(kind: .page, object: "/a#1", holders: [Holder(task: "writer", op: 2, opName: "writeback")])]
    #expect(LocksReleased().check(ctx(Snapshot(), now, tasks: [done])).count == 1)
    let inside = TaskStatus(
      name: "writer", kind: .plan, inOp: 2, opName: "writeback", finished: false, blockedOn: "x", idle: false)
    #expect(LocksReleased().check(ctx(Snapshot(), now, tasks: [inside])).isEmpty)
    #expect(LocksReleased().check(ctx(now, now, tasks: [done])).isEmpty)  // held at baseline
  }

  @Test("space must add up, and may-use must equal delalloc at rest")
  func spaceBalanced() {
    var now = Snapshot()
    now.space = [SpaceRecord(name: "data", total: 100, used: 10, reserved: 0, mayUse: 4096, free: 90, backsData: true)]
    #expect(
      SpaceBalanced().check(ctx(Snapshot(), now, tasks: [])).map(\.message) == [
        "space data: may-use 4KiB but delalloc is 0"
      ])
    now.extents = [ExtentRecord(source: .delalloc, file: "/a", range: ByteRange(0, 4096))]
    #expect(SpaceBalanced().check(ctx(Snapshot(), now, tasks: [])).isEmpty)
    now.space[0].free = 80
    #expect(SpaceBalanced().check(ctx(Snapshot(), now, tasks: [])).count == 1)
  }

  @Test("double mapping and mapping free blocks are caught")
  func noDoubleAllocation() {
    var now = Snapshot()
    now.extents = [
      ExtentRecord(source: .tree, file: "/a", range: ByteRange(0, 8192), disk: BlockRange(start: 10, count: 2)),
      ExtentRecord(source: .tree, file: "/b", range: ByteRange(0, 4096), disk: BlockRange(start: 11, count: 1)),
    ]
    now.free = [BlockRange(start: 20, count: 5)]
    #expect(NoDoubleAllocation().check(ctx(Snapshot(), now, tasks: [])).count == 1)
    now.extents.removeLast()
    now.free = [BlockRange(start: 11, count: 5)]
    // The message names the blocks both claim, not the whole free run.
    #expect(
      NoDoubleAllocation().check(ctx(Snapshot(), now, tasks: [])).map(\.message) == [
        "tree /a [0, 8KiB) -> blocks 10-11 maps block 11, which the allocator has free"
      ])
    now.free = [BlockRange(start: 12, count: 5)]
    #expect(NoDoubleAllocation().check(ctx(Snapshot(), now, tasks: [])).isEmpty)
  }

  @Test("a cached mapping is double only when another file location owns its blocks")
  func cacheDoubleMapping() {
    var now = Snapshot()
    now.extents = [
      ExtentRecord(
        source: .tree, file: "/a", range: ByteRange(0, 8192), disk: BlockRange(start: 10, count: 2), state: "written"),
      ExtentRecord(
        source: .cache, file: "/a", range: ByteRange(4096, 8192), disk: BlockRange(start: 11, count: 1),
        state: "written"),
    ]
    #expect(NoDoubleAllocation().check(ctx(Snapshot(), now, tasks: [])).isEmpty)
    // A stale entry of /b still mapping block 11, which /a's tree now owns.
    now.extents.append(
      ExtentRecord(
        source: .cache, file: "/b", range: ByteRange(0, 4096), disk: BlockRange(start: 11, count: 1), state: "written"))
    #expect(NoDoubleAllocation().check(ctx(Snapshot(), now, tasks: [])).count == 2)
  }

  @Test("delalloc needs dirty pages over it within EOF")
  func delallocBacked() {
    var now = Snapshot()
    now.files = [FileRecord(path: "/a", size: 8192)]
    now.extents = [ExtentRecord(source: .delalloc, file: "/a", range: ByteRange(0, 16384))]
    now.pages = [PageRecord(file: "/a", index: 0, flags: [.dirty, .uptodate])]
    let v = DelallocBacked().check(ctx(Snapshot(), now, tasks: []))
    #expect(v.map(\.message) == ["delalloc /a [0, 16KiB) within EOF has no dirty page over page(s) 1"])
    now.pages.append(PageRecord(file: "/a", index: 1, flags: [.dirty]))
    #expect(DelallocBacked().check(ctx(Snapshot(), now, tasks: [])).isEmpty)
  }

  @Test("a pending ordered extent at rest is reported; right after an op it is not")
  func orderedExtents() {
    var now = Snapshot()
    now.extents = [
      ExtentRecord(
        source: .ordered, file: "/a", range: ByteRange(0, 4096), disk: BlockRange(start: 1, count: 1), state: "pending")
    ]
    #expect(OrderedExtentsComplete().check(ctx(Snapshot(), now, tasks: [])).count == 1)
    #expect(
      OrderedExtentsComplete().check(
        ctx(Snapshot(), now, tasks: [], moment: .afterFailedOp(task: "w", op: 1, opName: "write"))
      ).isEmpty)
  }

  @Test("a cached extent that disagrees with the tree is incoherent")
  func extentCache() {
    var now = Snapshot()
    now.extents = [
      ExtentRecord(
        source: .tree, file: "/a", range: ByteRange(0, 8192), disk: BlockRange(start: 10, count: 2), state: "written"),
      ExtentRecord(
        source: .cache, file: "/a", range: ByteRange(4096, 8192), disk: BlockRange(start: 11, count: 1),
        state: "written"),
    ]
    #expect(ExtentCacheCoherent().check(ctx(Snapshot(), now, tasks: [])).isEmpty)
    now.extents[1].disk = BlockRange(start: 12, count: 1)
    #expect(ExtentCacheCoherent().check(ctx(Snapshot(), now, tasks: [])).count == 1)
    now.extents[1] = ExtentRecord(source: .cache, file: "/a", range: ByteRange(0, 4096), state: "hole")
    #expect(ExtentCacheCoherent().check(ctx(Snapshot(), now, tasks: [])).count == 1)
  }
}

@Suite("Data oracle")
struct DataOracleTests {
  func ok(_ b: [UInt8]) -> (String) -> Result<[UInt8], FSError> { { _ in .success(b) } }

  @Test("fsync-acknowledged bytes must survive recovery")
  func durable() {
    var o = DataOracle()
    o.record(Operation(.write, path: "/a", offset: 0, length: 4, pattern: 0xAA), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.write, path: "/a", offset: 4, length: 4, pattern: 0xBB), .ok)
    #expect(o.checkDurable(ok([0xAA, 0xAA, 0xAA, 0xAA])).isEmpty)
    #expect(o.checkDurable(ok([0xAA, 0xAA, 0xAA, 0xAA, 0xBB, 0xBB, 0xBB, 0xBB])).isEmpty)
    // Lost acknowledged bytes: durability broken, and the caller was told success.
    #expect(o.checkDurable(ok([0xAA, 0x00, 0xAA, 0xAA])).map(\.invariant) == [.dataDurable, .errorsReported])
    #expect(o.checkDurable(ok([0xAA, 0xAA, 0xAA, 0xAA, 0x77])).first?.message.contains("garbage") == true)
  }

  @Test("data the cache lost silently is reported; lost after an error is not")
  func errorsReported() {
    var o = DataOracle()
    o.record(Operation(.write, path: "/a", offset: 0, length: 4, pattern: 0xAA), .ok)
    #expect(o.checkCache(ok([0xAA, 0xAA, 0xAA, 0xAA])).isEmpty)
    #expect(o.checkCache(ok([0, 0, 0, 0])).first?.invariant == .errorsReported)
    o.record(Operation(.writeback, path: "/a"), .error(FSError(.io)))
    #expect(o.checkCache(ok([0, 0, 0, 0])).isEmpty)
  }

  @Test("a failed write may leave old or new bytes, nothing else")
  func failedWrite() {
    var o = DataOracle()
    o.record(Operation(.write, path: "/a", offset: 0, length: 2, pattern: 0x11), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.write, path: "/a", offset: 0, length: 2, pattern: 0x22), .error(FSError(.noSpace)))
    #expect(o.checkCache(ok([0x11, 0x11])).isEmpty)
    #expect(o.checkCache(ok([0x22, 0x22])).isEmpty)
  }
}

@Suite("Data oracle, more")
struct DataOracleMoreTests {
  func ok(_ b: [UInt8]) -> (String) -> Result<[UInt8], FSError> { { _ in .success(b) } }

  @Test("a corrupted block may fail with EIO after recovery, but not return wrong bytes")
  func corruption() {
    var o = DataOracle()
    o.record(Operation(.write, path: "/a", offset: 0, length: 2, pattern: 0x11), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.corrupt, path: "/a", offset: 0), .ok)
    #expect(o.checkDurable { _ in .failure(FSError(.io)) }.isEmpty)
    #expect(o.checkDurable(ok([0x11, 0xEE])).first?.invariant == .dataDurable)
  }

  @Test("fallocate without keep-size grows the file with zeros; with keep-size it does not")
  func fallocateGrows() {
    var o = DataOracle()
    o.record(Operation(.write, path: "/a", offset: 0, length: 2, pattern: 0x11), .ok)
    o.record(Operation(.fallocate, path: "/a", offset: 0, length: 4), .ok)
    #expect(o.checkCache(ok([0x11, 0x11, 0, 0])).isEmpty)
    #expect(o.checkCache(ok([0x11, 0x11])).first?.invariant == .errorsReported)  // the size it set is gone
    var keep = Operation(.fallocate, path: "/a", offset: 0, length: 8)
    keep.mode = "keep-size,zero-blocks"
    o.record(keep, .ok)
    #expect(o.checkCache(ok([0x11, 0x11, 0, 0])).isEmpty)
    // A failed one may have grown the file, or not.
    o.record(Operation(.fallocate, path: "/a", offset: 4, length: 2), .error(FSError(.noSpace)))
    #expect(o.checkCache(ok([0x11, 0x11, 0, 0])).isEmpty)
    #expect(o.checkCache(ok([0x11, 0x11, 0, 0, 0, 0])).isEmpty)
  }

  @Test("direct and mmap writes are writes to the oracle")
  func otherWrites() {
    var o = DataOracle()
    o.record(Operation(.dioWrite, path: "/a", offset: 0, length: 2, pattern: 0x22), .ok)
    o.record(Operation(.mmapWrite, path: "/a", offset: 1, length: 1, pattern: 0x33), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    #expect(o.checkDurable(ok([0x22, 0x33])).isEmpty)
    #expect(!o.checkDurable(ok([0x22, 0x22])).isEmpty)
  }
}

@Suite("pagecache-coherent")
struct PagecacheCoherentTests {
  @Test("a clean page that differs from the disk is stale; one not compared is not judged")
  func stale() {
    var now = Snapshot()
    now.pages = [
      PageRecord(file: "/a", index: 0, flags: [.uptodate], diskAgrees: false),
      PageRecord(file: "/a", index: 1, flags: [.uptodate], diskAgrees: true),
      PageRecord(file: "/a", index: 2, flags: [.uptodate, .dirty], diskAgrees: nil),
    ]
    let ctx = InvariantContext(
      moment: .atRest, baseline: Snapshot(), current: now, diff: SnapshotDiff(from: Snapshot(), to: now), tasks: [],
      stop: .quiescent)
    let v = PagecacheCoherent().check(ctx)
    #expect(v.count == 1)
    #expect(v.first?.message.hasPrefix("page /a#0 cached clean but differs from the disk") == true)
    #expect(v.first?.evidence == ["page /a#0: absent -> cached (uptodate, differs from disk)"])
  }
}
