import Testing

@testable import FaultKit

/// Invariants about who owns what: locks, blocks, pages.
@Suite("Ownership invariants")
struct OwnershipInvariantTests {
  func atRest(_ now: Snapshot, baseline: Snapshot = Snapshot(), tasks: [TaskStatus] = []) -> InvariantContext {
    InvariantContext(
      moment: .atRest, baseline: baseline, current: now, diff: SnapshotDiff(from: baseline, to: now), tasks: tasks,
      stop: .quiescent)
  }

  @Test("a holder-less lock at rest is leaked when nothing is queued, not while work that may release it is")
  func holderlessLock() {
    var now = Snapshot()
    now.locks = [LockRecord(kind: .range, object: "/a", range: ByteRange(0, 4096), holders: [])]
    #expect(
      LocksReleased().check(atRest(now)).map(\.message) == [
        "range /a [0, 4KiB) leaked: held by nobody, and no work is queued on /a"
      ])
    // Work queued on another file excuses nothing; work on this one may release it.
    now.pendingWork = ["endio-write: finish_ordered_io /ab [0, 4KiB)"]
    #expect(LocksReleased().check(atRest(now)).count == 1)
    now.pendingWork = ["endio-write: finish_ordered_io /a [0, 4KiB)"]
    #expect(LocksReleased().check(atRest(now)).isEmpty)
    let failedOp = InvariantContext(
      moment: .afterFailedOp(task: "writer", op: 1, opName: "write"), baseline: Snapshot(), current: now,
      diff: SnapshotDiff(from: Snapshot(), to: now), tasks: [], stop: nil)
    #expect(LocksReleased().check(failedOp).isEmpty)
  }
}

@Suite("unlock-by-owner")
struct UnlockByOwnerTests {
  @Test("reads the records the lock primitives made, one violation listing them all")
  func readsRecords() {
    var now = Snapshot()
    #expect(UnlockByOwner().check(OwnershipInvariantTests().atRest(now)).isEmpty)
    now.assertions = [
      AssertionRecord(rule: "unlock-by-owner", detail: "b in write #1: up_write of inode /a, held by a in write #1"),
      AssertionRecord(rule: "map-blocks-locked", detail: "not this one"),
      AssertionRecord(rule: "unlock-by-owner", detail: "b in write #1: unlock_page of page /a#0, which nobody holds"),
    ]
    let v = UnlockByOwner().check(OwnershipInvariantTests().atRest(now))
    #expect(v.count == 1)
    #expect(v.first?.evidence.count == 2)
    #expect(v.first?.message.hasSuffix("(and 1 more)") == true)
  }
}

@Suite("space-balanced block accounting")
struct BlockAccountingTests {
  /// A 64-block device: 16 pinned, 16-31 free, 32-47 filler, 48-63 mapped by /a.
  func accounted() -> Snapshot {
    var s = Snapshot()
    s.deviceBlocks = 64
    s.pinned = [PinnedRange(BlockRange(start: 0, count: 16), why: "superblock and metadata")]
    s.free = [BlockRange(start: 16, count: 16)]
    s.filler = [BlockRange(start: 32, count: 16)]
    s.extents = [
      ExtentRecord(
        source: .tree, file: "/a", range: ByteRange(0, 16 * 4096), disk: BlockRange(start: 48, count: 16),
        state: "written")
    ]
    return s
  }
  func problems(_ s: Snapshot) -> [String] {
    SpaceBalanced().check(OwnershipInvariantTests().atRest(s)).map(\.message)
  }

  @Test("every block with exactly one owner passes; without deviceBlocks nothing is judged")
  func wholeDevice() {
    #expect(problems(accounted()).isEmpty)
    var s = accounted()
    s.extents = []
    s.deviceBlocks = nil
    #expect(problems(s).isEmpty)
  }

  @Test("blocks nobody owns are leaked; blocks two owners claim are reported, runs folded")
  func leakedAndClaimedTwice() {
    var s = accounted()
    s.extents[0].disk = BlockRange(start: 48, count: 12)
    s.extents[0].range = ByteRange(0, 12 * 4096)
    s.pinned.append(PinnedRange(BlockRange(start: 40, count: 2), why: "freed, pinned until commit"))
    #expect(
      problems(s) == [
        "blocks 40-41 both pinned (freed, pinned until commit) and filler",
        "blocks 60-63 allocated but owned by nobody (not free, mapped, pinned or filler): leaked",
      ])
  }

  @Test("mapped and free is no-double-allocation's finding, not repeated; runs past the device are reported")
  func mappedFreeAndBeyond() {
    var s = accounted()
    s.free = [BlockRange(start: 16, count: 16), BlockRange(start: 48, count: 2)]
    #expect(problems(s).isEmpty)
    s.filler.append(BlockRange(start: 64, count: UInt64.max))
    #expect(problems(s) == ["filler run from block 64 lies beyond the device's 64 blocks"])
  }
}
