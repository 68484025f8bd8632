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
        "range /a [0, 4KiB) leaked: held by nobody, and no work is queued"
      ])
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
