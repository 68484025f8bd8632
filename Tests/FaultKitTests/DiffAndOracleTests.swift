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

/// The bytes a write of `pattern` at `offset` (generation `g`) puts in /a.
private func stamp(_ pattern: UInt8, _ offset: UInt64, _ count: Int, g: UInt32 = 0) -> [UInt8] {
  WriteData(path: "/a", generation: g, pattern: pattern).bytes(at: offset, count: count)
}

private func write(_ offset: UInt64, _ length: UInt64, _ pattern: UInt8, g: UInt32 = 0, kind: OpKind = .write)
  -> Operation
{
  var op = Operation(kind, path: "/a", offset: offset, length: length, pattern: pattern)
  op.generation = g
  return op
}

@Suite("Data oracle")
struct DataOracleTests {
  func ok(_ b: [UInt8]) -> (String) -> Result<[UInt8], FSError> { { _ in .success(b) } }

  @Test("fsync-acknowledged bytes must survive recovery")
  func durable() {
    var o = DataOracle()
    o.record(write(0, 32, 0xAA), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(write(32, 32, 0xBB), .ok)
    let first = stamp(0xAA, 0, 32)
    #expect(o.checkDurable(ok(first)).isEmpty)
    #expect(o.checkDurable(ok(first + stamp(0xBB, 32, 32))).isEmpty)
    // Lost acknowledged bytes: durability broken, and the caller was told success.
    var lost = first
    lost[15] = 0  // the pattern byte of the first unit
    #expect(o.checkDurable(ok(lost)).map(\.invariant) == [.dataDurable, .errorsReported])
    #expect(o.checkDurable(ok(first + [0x77])).first?.message.contains("garbage") == true)
  }

  @Test("data the cache lost silently is reported; lost after an error is not")
  func errorsReported() {
    var o = DataOracle()
    o.record(write(0, 16, 0xAA), .ok)
    #expect(o.checkCache(ok(stamp(0xAA, 0, 16))).isEmpty)
    #expect(o.checkCache(ok([UInt8](repeating: 0, count: 16))).first?.invariant == .errorsReported)
    o.record(Operation(.writeback, path: "/a"), .error(FSError(.io)))
    #expect(o.checkCache(ok([UInt8](repeating: 0, count: 16))).isEmpty)
  }

  @Test("a reported writeback error takes the size the lost writes made with them; a later fsync acknowledges neither")
  func lostExtension() {
    var o = DataOracle()
    o.record(write(0, 16, 0xAA), .ok)
    o.record(Operation(.writeback, path: "/a"), .error(FSError(.noMemory)))
    o.record(Operation(.fsync, path: "/a"), .ok)
    // The file as before the write (empty), or as written: both allowed after recover.
    #expect(o.checkDurable(ok([])).isEmpty)
    #expect(o.checkDurable(ok(stamp(0xAA, 0, 16))).isEmpty)
    // Written again after the loss, and fsync'd: that size and those bytes are acknowledged.
    o.record(write(0, 16, 0xBB), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    #expect(o.checkDurable(ok([])).first?.invariant == .dataDurable)
  }

  @Test("a failed direct write reports the loss of the buffered writes it wrote back first")
  func failedDirectWrite() {
    var o = DataOracle()
    o.record(write(0, 16, 0x11, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(write(0, 16, 0x22, g: 2), .ok)
    // Its writeback of the 0x22 page failed (EIO): the direct write did not happen, and what the
    // disk holds (0x11, as fsync left it) reads back; nobody was lied to.
    o.record(write(0, 16, 0x33, g: 3, kind: .dioWrite), .error(FSError(.io)))
    #expect(o.checkCache(ok(stamp(0x11, 0, 16, g: 1))).isEmpty)
    #expect(o.checkCache(ok(stamp(0x22, 0, 16, g: 2))).isEmpty)
    #expect(o.checkCache(ok(stamp(0x33, 0, 16, g: 3))).isEmpty)
    #expect(!o.checkCache(ok(stamp(0x44, 0, 16, g: 4))).isEmpty)
    // A buffered write's failure says nothing of earlier writes.
    var b = DataOracle()
    b.record(write(0, 16, 0x11, g: 1), .ok)
    b.record(Operation(.fsync, path: "/a"), .ok)
    b.record(write(0, 16, 0x22, g: 2), .ok)
    b.record(write(0, 16, 0x33, g: 3), .error(FSError(.io)))
    #expect(b.checkCache(ok(stamp(0x11, 0, 16, g: 1))).first?.invariant == .errorsReported)
  }

  @Test("a failed write may leave old or new bytes, nothing else")
  func failedWrite() {
    var o = DataOracle()
    o.record(write(0, 16, 0x11, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(write(0, 16, 0x22, g: 2), .error(FSError(.noSpace)))
    #expect(o.checkCache(ok(stamp(0x11, 0, 16, g: 1))).isEmpty)
    #expect(o.checkCache(ok(stamp(0x22, 0, 16, g: 2))).isEmpty)
    #expect(!o.checkCache(ok(stamp(0x33, 0, 16, g: 3))).isEmpty)
  }

  @Test("an append after a failed one lands at the end the failure left: its bytes there are no loss")
  func appendAfterFailedAppend() {
    // libext2fs: the first append fails before extending i_size, the second lands at 16.
    var o = DataOracle()
    o.record(write(0, 16, 0x11, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    var first = Operation(.append, path: "/a", length: 16, pattern: 0x22)
    first.generation = 2
    var second = Operation(.append, path: "/a", length: 16, pattern: 0x33)
    second.generation = 3
    o.record(first, .error(FSError(.noSpace)))
    o.record(second, .ok)
    let landed = stamp(0x11, 0, 16, g: 1) + stamp(0x33, 16, 16, g: 3)
    #expect(o.checkCache(ok(landed)).isEmpty)
    #expect(o.checkDurable(ok(landed)).isEmpty)
    // Where the plan placed it (after the failed one's whole range) is allowed too.
    #expect(o.checkCache(ok(stamp(0x11, 0, 16, g: 1) + stamp(0x22, 16, 16, g: 2) + stamp(0x33, 32, 16, g: 3))).isEmpty)
    // Not anything: bytes no write put there, or the file cut short of what the append guarantees.
    #expect(!o.checkCache(ok(stamp(0x11, 0, 16, g: 1) + stamp(0x44, 16, 16, g: 4))).isEmpty)
    #expect(!o.checkCache(ok(stamp(0x11, 0, 16, g: 1) + stamp(0x33, 16, 8, g: 3))).isEmpty)
  }

  @Test("an append after a failed truncate lands where the truncate left the end")
  func appendAfterFailedTruncate() {
    // libext2fs's ext2fs_file_set_size2 writes i_size before its punch fails.
    var o = DataOracle()
    o.seed(path: "/a", contents: stamp(0x5A, 0, 64), durable: true)
    o.record(Operation(.truncate, path: "/a", size: 16), .error(FSError(.io)))
    var append = Operation(.append, path: "/a", length: 32, pattern: 0x44)
    append.generation = 1
    o.record(append, .ok)
    let landed = stamp(0x5A, 0, 16) + stamp(0x44, 16, 32, g: 1)
    #expect(o.checkCache(ok(landed)).isEmpty)
    #expect(o.checkDurable(ok(landed)).isEmpty)
    // The bytes before the truncate's size are still acknowledged.
    #expect(!o.checkDurable(ok(stamp(0x44, 0, 48, g: 1))).isEmpty)
  }

  @Test("a failed truncate may have set the size first: grown, or cut so that a later extension reads zeros")
  func failedTruncateSetTheSizeFirst() {
    // Grown: the append after it lands past the new size, the bytes before it a hole.
    var grown = DataOracle()
    grown.seed(path: "/a", contents: [], durable: true)
    grown.record(Operation(.truncate, path: "/a", size: 32), .error(FSError(.io)))
    var append = Operation(.append, path: "/a", length: 16, pattern: 0x44)
    append.generation = 1
    grown.record(append, .ok)
    let past = [UInt8](repeating: 0, count: 32) + stamp(0x44, 32, 16, g: 1)
    #expect(grown.checkCache(ok(past)).isEmpty)
    #expect(grown.checkDurable(ok(past)).isEmpty)
    // Cut: fsync-acknowledged bytes past the size read as zeros after a later extension.
    var cut = DataOracle()
    cut.seed(path: "/a", contents: stamp(0x5A, 0, 48), durable: true)
    cut.record(Operation(.truncate, path: "/a", size: 16), .error(FSError(.io)))
    cut.record(Operation(.fallocate, path: "/a", offset: 0, length: 64), .ok)
    let zeroed = stamp(0x5A, 0, 16) + [UInt8](repeating: 0, count: 48)
    #expect(cut.checkDurable(ok(zeroed)).isEmpty)
    // Before its size it cut nothing.
    #expect(!cut.checkDurable(ok([UInt8](repeating: 0, count: 64))).isEmpty)
  }

  @Test("a failed unlink may have removed the name; a successful one or a later success decides")
  func failedUnlink() {
    var o = DataOracle()
    o.seed(path: "/a", contents: stamp(0x5A, 0, 32), durable: true)
    let gone: (String) -> Result<[UInt8], FSError> = { _ in .failure(FSError(.noEntry)) }
    // Before any unlink, a missing file is lost data.
    #expect(!o.checkDurable(gone).isEmpty)
    o.record(Operation(.unlink, path: "/a"), .error(FSError(.io)))
    #expect(o.checkCache(gone).isEmpty)
    #expect(o.checkDurable(gone).isEmpty)
    // Still there is fine too, with its bytes.
    #expect(o.checkDurable(ok(stamp(0x5A, 0, 32))).isEmpty)
    // A write that succeeded since says the name is there.
    o.record(write(0, 16, 0x11, g: 1), .ok)
    #expect(!o.checkDurable(gone).isEmpty)
  }

  @Test("a block at the wrong offset, from the wrong file or from an older write is caught, and said")
  func misplaced() {
    var o = DataOracle()
    o.record(write(0, 8192, 0xA5, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    let right = stamp(0xA5, 0, 8192, g: 1)
    #expect(o.checkDurable(ok(right)).isEmpty)
    // The second block written where the first belongs: one write, one pattern, so a byte per
    // write could never tell.
    let swapped = Array(right[4096..<8192] + right[0..<4096])
    let v = o.checkDurable(ok(swapped))
    #expect(v.first?.invariant == .dataDurable)
    #expect(v.first?.message.contains("hold /a offset 4KiB write 1 where /a offset 0 write 1 belongs") == true)
    // Another file's bytes, and an older write's.
    let other = WriteData(path: "/b", generation: 1, pattern: 0xA5).bytes(at: 0, count: 8192)
    #expect(o.checkDurable(ok(other)).first?.invariant == .dataDurable)
    #expect(o.checkDurable(ok(stamp(0xA5, 0, 8192, g: 7))).first?.invariant == .dataDurable)
  }

  @Test("garbage is exact: bytes of another offset of the same file are garbage after a crash")
  func garbage() {
    var o = DataOracle()
    o.record(write(0, 4096, 0xA5, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(write(4096, 4096, 0xA5, g: 2), .ok)
    let acked = stamp(0xA5, 0, 4096, g: 1)
    // Past what fsync acknowledged, the unsynced write's bytes or zeros are fine …
    #expect(o.checkDurable(ok(acked + stamp(0xA5, 4096, 4096, g: 2))).isEmpty)
    #expect(o.checkDurable(ok(acked + [UInt8](repeating: 0, count: 4096))).isEmpty)
    // … the first block's bytes again are not: nothing put them at 4KiB.
    let v = o.checkDurable(ok(acked + acked))
    #expect(v.first?.message.contains("garbage") == true)
  }
}

@Suite("Data oracle, more")
struct DataOracleMoreTests {
  func ok(_ b: [UInt8]) -> (String) -> Result<[UInt8], FSError> { { _ in .success(b) } }

  @Test("a corrupted block may fail with EIO after recovery, but not return wrong bytes")
  func corruption() {
    var o = DataOracle()
    o.record(write(0, 16, 0x11), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.corrupt, path: "/a", offset: 0), .ok)
    #expect(o.checkDurable { _ in .failure(FSError(.io)) }.isEmpty)
    var bad = stamp(0x11, 0, 16)
    bad[1] ^= 0xFF
    #expect(o.checkDurable(ok(bad)).first?.invariant == .dataDurable)
  }

  @Test("fallocate without keep-size grows the file with zeros; with keep-size it does not")
  func fallocateGrows() {
    var o = DataOracle()
    o.record(write(0, 2, 0x11), .ok)
    let w = stamp(0x11, 0, 2)
    o.record(Operation(.fallocate, path: "/a", offset: 0, length: 4), .ok)
    #expect(o.checkCache(ok(w + [0, 0])).isEmpty)
    #expect(o.checkCache(ok(w)).first?.invariant == .errorsReported)  // the size it set is gone
    var keep = Operation(.fallocate, path: "/a", offset: 0, length: 8)
    keep.mode = "keep-size,zero-blocks"
    o.record(keep, .ok)
    #expect(o.checkCache(ok(w + [0, 0])).isEmpty)
    // A failed one may have grown the file, or not.
    o.record(Operation(.fallocate, path: "/a", offset: 4, length: 2), .error(FSError(.noSpace)))
    #expect(o.checkCache(ok(w + [0, 0])).isEmpty)
    #expect(o.checkCache(ok(w + [0, 0, 0, 0])).isEmpty)
    #expect(!o.checkCache(ok(w + [0, 0, 0, 7])).isEmpty)  // grown, but not with zeros
  }

  @Test("direct and mmap writes are writes to the oracle")
  func otherWrites() {
    var o = DataOracle()
    o.record(write(0, 32, 0x22, g: 1, kind: .dioWrite), .ok)
    o.record(write(16, 16, 0x33, g: 2, kind: .mmapWrite), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    #expect(o.checkDurable(ok(stamp(0x22, 0, 16, g: 1) + stamp(0x33, 16, 16, g: 2))).isEmpty)
    #expect(!o.checkDurable(ok(stamp(0x22, 0, 32, g: 1))).isEmpty)
  }

  @Test("a read the plan makes is checked when it returns")
  func planRead() {
    var o = DataOracle()
    o.record(write(0, 64, 0x11, g: 1), .ok)
    let read = Operation(.read, path: "/a", offset: 16, length: 32)
    let w = o.beginRead("/a", inFlight: [])
    #expect(o.checkRead(read, Array(stamp(0x11, 0, 64, g: 1)[16..<48]), w, moment: "m") == nil)
    let v = o.checkRead(read, Array(stamp(0x11, 0, 64, g: 1)[0..<32]), w, moment: "m")
    #expect(v?.invariant == .errorsReported)
    #expect(v?.moment == "m")
  }

  @Test("a read racing another task's write may see the bytes before or after it, nothing else")
  func racingRead() {
    var o = DataOracle()
    o.record(write(0, 32, 0x11, g: 1), .ok)
    let racing = write(0, 32, 0x22, g: 2)
    let read = Operation(.read, path: "/a")
    let w = o.beginRead("/a", inFlight: [racing])
    o.record(racing, .ok)
    // Half old, half new (page by page, as a real read may): allowed.
    let mixed = Array(stamp(0x11, 0, 16, g: 1) + stamp(0x22, 16, 16, g: 2))
    #expect(o.checkRead(read, mixed, w, moment: "m") == nil)
    #expect(o.checkRead(read, stamp(0x33, 0, 32, g: 3), w, moment: "m") != nil)
  }

  @Test("a read racing a write that extends the file may end at the size it had when the read began")
  func racingExtension() {
    var o = DataOracle()
    o.record(write(0, 32, 0x11, g: 1), .ok)
    let racing = write(32, 32, 0x22, g: 2)
    let read = Operation(.read, path: "/a")
    var w = o.beginRead("/a", inFlight: [])
    w.overlaps(racing)
    o.record(racing, .ok)
    #expect(o.checkRead(read, stamp(0x11, 0, 32, g: 1), w, moment: "m") == nil)
    #expect(o.checkRead(read, stamp(0x11, 0, 32, g: 1) + stamp(0x22, 32, 32, g: 2), w, moment: "m") == nil)
    // Shorter than the file ever was while the read ran: wrong.
    #expect(o.checkRead(read, stamp(0x11, 0, 16, g: 1), w, moment: "m")?.invariant == .errorsReported)
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

@Suite("space-balanced on hostile counters")
struct SpaceBalancedHostileTests {
  func atRest(_ now: Snapshot) -> InvariantContext {
    InvariantContext(
      moment: .atRest, baseline: Snapshot(), current: now, diff: SnapshotDiff(from: Snapshot(), to: now), tasks: [],
      stop: .quiescent)
  }

  @Test("counters that overflow 64 bits when summed are a violation, not a trap")
  func overflowingSum() {
    var now = Snapshot()
    now.space = [
      SpaceRecord(name: "data", total: 100, used: UInt64.max, reserved: 2, mayUse: 0, free: 1, backsData: false)
    ]
    #expect(
      SpaceBalanced().check(atRest(now)).map(\.message) == [
        "space data: free 1 + used \(UInt64.max) + reserved 2 overflows 64 bits"
      ])
  }

  @Test("a counter the engine took below zero is reported, with what happened")
  func underflowReported() {
    var now = Snapshot()
    var s = SpaceRecord(name: "data", total: 100, used: 0, reserved: 0, mayUse: 0, free: 100, backsData: false)
    s.underflows = ["may-use: released 4KiB with 0 held"]
    now.space = [s]
    #expect(
      SpaceBalanced().check(atRest(now)).map(\.message) == [
        "space data: counter went below zero: may-use: released 4KiB with 0 held"
      ])
  }
}

@Suite("extent-cache-coherent and no-double-allocation on unwritten and delayed entries")
struct CacheStateTests {
  func atRest(_ now: Snapshot) -> InvariantContext {
    InvariantContext(
      moment: .atRest, baseline: Snapshot(), current: now, diff: SnapshotDiff(from: Snapshot(), to: now), tasks: [],
      stop: .quiescent)
  }
  func extent(_ source: ExtentSource, _ file: String, _ r: ByteRange, _ disk: BlockRange?, _ state: String)
    -> ExtentRecord
  {
    ExtentRecord(source: source, file: file, range: r, disk: disk, state: state)
  }

  @Test("a cached mapping must match the tree extent's state as well as its blocks")
  func stateMustMatch() {
    var now = Snapshot()
    let tree = extent(.tree, "/a", ByteRange(0, 8192), BlockRange(start: 40, count: 2), "unwritten")
    now.extents = [tree, extent(.cache, "/a", ByteRange(0, 8192), BlockRange(start: 40, count: 2), "unwritten")]
    #expect(ExtentCacheCoherent().check(atRest(now)).isEmpty)
    now.extents[1].state = "written"
    #expect(ExtentCacheCoherent().check(atRest(now)).count == 1)
    now.extents[0].state = "written"
    now.extents[1].state = "unwritten"
    #expect(ExtentCacheCoherent().check(atRest(now)).count == 1)
    // An unwritten entry at another disk offset, or over nothing at all.
    now.extents[0].state = "unwritten"
    now.extents[1].disk = BlockRange(start: 41, count: 2)
    #expect(ExtentCacheCoherent().check(atRest(now)).count == 1)
    now.extents = [extent(.cache, "/a", ByteRange(0, 4096), BlockRange(start: 40, count: 1), "unwritten")]
    #expect(
      ExtentCacheCoherent().check(atRest(now)).map(\.message) == [
        "cached cache /a [0, 4KiB) -> block 40 (unwritten) disagrees with the tree (it maps nothing there)"
      ])
  }

  @Test("a delayed entry the tree maps is stale")
  func delayedOverTree() {
    var now = Snapshot()
    now.extents = [
      extent(.tree, "/a", ByteRange(0, 4096), BlockRange(start: 40, count: 1), "unwritten"),
      extent(.cache, "/a", ByteRange(0, 4096), nil, "delayed"),
    ]
    #expect(ExtentCacheCoherent().check(atRest(now)).count == 1)
    now.extents.remove(at: 0)
    #expect(ExtentCacheCoherent().check(atRest(now)).isEmpty)
  }

  @Test("an unwritten cache entry mapping another file's blocks is a double allocation")
  func unwrittenCountsAsMapping() {
    var now = Snapshot()
    now.extents = [
      extent(.tree, "/b", ByteRange(0, 4096), BlockRange(start: 40, count: 1), "written"),
      extent(.cache, "/a", ByteRange(32768, 36864), BlockRange(start: 40, count: 1), "unwritten"),
    ]
    #expect(NoDoubleAllocation().check(atRest(now)).count == 1)
  }
}
