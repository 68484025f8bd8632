import FaultKit
import ModelKernel

/// Engine `btrfs-model`: btrfs's COW data path as seed 000 describes it: delalloc reservations,
/// `cow_file_range` reserving extents in a loop, ordered extents finished by an I/O-completion
/// worker, fsync, unlink/evict, and recovery from the last committed root.
public enum BtrfsModel {
  /// The fault points, in catalog order; `Point` indexes into it.
  public static let catalog = FaultCatalog([
    FaultPoint(
      "alloc.data", kind: .allocator, errnos: [.noSpace],
      about: "btrfs_reserve_extent() in the cow_file_range() loop: reserve a data extent (may split)"),
    FaultPoint(
      "reserve.data", kind: .reserve, errnos: [.noSpace, .quota],
      about: "btrfs_check_data_free_space() in a buffered write: the delalloc data reservation"),
    FaultPoint(
      "reserve.metadata", kind: .reserve, errnos: [.noSpace],
      about: "metadata reservation: btrfs_delalloc_reserve_metadata() in a write, btrfs_start_transaction() in unlink"),
    FaultPoint(
      "io.write", kind: .io, errnos: [.io],
      about: "data bio for one ordered extent: an error sets the extent's IOERR flag and the mapping error"),
    FaultPoint(
      "io.read", kind: .io, errnos: [.io],
      about: "data read of one block from the device into a page"),
    FaultPoint(
      "txn.commit", kind: .transaction, errnos: [.io, .noSpace], actions: [.fail, .yield],
      about: "btrfs_commit_transaction() in fsync: write the new root; on error the old root stays"),
    FaultPoint(
      "worker.fixup.queued", kind: .worker, errnos: [], actions: [.yield],
      about:
        "writepage_start_hook has queued the fixup worker for a page dirtied behind btrfs's back; the page is unlocked, the worker has not run (seed 002's window)"
    ),
    FaultPoint(
      "worker.finish-ordered", kind: .worker, errnos: [], actions: [.yield],
      about:
        "btrfs_finish_ordered_io in the endio worker, holding the extent range lock after page writeback ended (seed 001's window)"
    ),
  ])

  enum Point {
    static let allocData = FaultPointID(0)
    static let reserveData = FaultPointID(1)
    static let reserveMetadata = FaultPointID(2)
    static let ioWrite = FaultPointID(3)
    static let ioRead = FaultPointID(4)
    static let txnCommit = FaultPointID(5)
    static let fixupQueued = FaultPointID(6)
    static let finishOrdered = FaultPointID(7)
  }

  public static let bugs = [
    BugSwitch(
      "cow-error-leaves-pages-locked",
      about:
        "cow_file_range() (unlock=0 path) fails on a later iteration and returns leaving the pages of the earlier, successful iterations locked (seed 000)"
    ),
    BugSwitch(
      "cow-error-leaks-ordered-extents",
      about:
        "on that error, ordered extents made by earlier iterations are not cleaned up (no btrfs_cleanup_ordered_extents), so they never complete (seed 000)"
    ),
    BugSwitch(
      "dio-ignores-failed-invalidation",
      about:
        "a direct write whose page-cache invalidation failed (the range was locked) goes ahead and leaves a stale page in the cache (seed 001)"
    ),
    BugSwitch(
      "releasepage-waits-on-range-lock",
      about:
        "releasepage sleeps on the extent range lock instead of refusing; the direct-I/O path holds that lock, so it deadlocks (seed 001)"
    ),
    BugSwitch(
      "fixup-page-cleaned-before-worker",
      about:
        "the window of commit 87826df0ec36: the page is left clean while it waits for the fixup worker, so a migration in the window leaves the worker a page with no mapping, which it frees unwritten (seed 002)"
    ),
    BugSwitch(
      "fixup-enospc-leaves-page-dirty",
      about: "when the fixup worker's reservation fails, the page stays dirty with no reservation under it (seed 002)"
    ),
    BugSwitch(
      "evict-skips-writeback-wait",
      about:
        "truncate_inode_pages_final() in evict drops pages without waiting for their writeback: a page leaves the cache with its I/O in flight (the kernel's Bad page state when it is freed)"
    ),
    BugSwitch(
      "fsync-clears-error-for-everyone",
      about:
        "fsync reports the mapping's writeback error as before Linux 4.13 (test_and_clear_bit(AS_EIO)): the first file description to fsync consumes it, and every other one's fsync returns success"
    ),
  ]

  public static let descriptor: EngineDescriptor = {
    var d = EngineDescriptor(
      name: "btrfs-model",
      about: "btrfs COW data path: delalloc, cow_file_range, ordered extents, endio worker, fsync, evict, recovery",
      catalog: catalog,
      operations: [
        .create, .write, .writeback, .fsync, .read, .unlink, .dioWrite, .dioRead, .mmapWrite, .migratePage,
        .dropCaches, .corrupt,
      ],
      bugs: bugs,
      workers: [
        WorkerInfo(BtrfsEngine.endioName, ops: ["finish_ordered_io", "flush"]),
        WorkerInfo(BtrfsEngine.fixupName, ops: ["fixup", "flush"]),
      ],
      invariants: [
        .locksReleased, .noHang, .spaceBalanced, .orderedExtentsComplete, .delallocBacked, .noDoubleAllocation,
        .dataDurable, .errorsReported, .pagecacheCoherent, .unlockByOwner, .noBadPageState,
      ],
      checkSetup: { _ = try BtrfsSetup($0) },
      maxFileSize: ModelSetup.maxFileSize,
      make: { ctx in try BtrfsEngine(ctx) })
    // btrfs_writepage_cow_fixup: writeback hands a page dirtied behind btrfs's back to the fixup
    // worker and skips it until the worker has reserved for it.
    d.writebackSkipsPagesAwaitingFixup = true
    return d
  }()
}

/// The `setup:` section of a btrfs-model plan: the shared model keys plus `metadata` (the size
/// of the metadata space reservations draw from).
struct BtrfsSetup: Sendable {
  let common: ModelSetup
  var metadataBytes: UInt64 = 1 << 20

  init(_ value: PlanValue?) throws {
    common = try ModelSetup(value, extraKeys: ["metadata"])
    if let md = try common.map?.size("metadata") { metadataBytes = md }
  }

  var blocks: UInt64 { common.blocks }
  var blockSize: UInt64 { common.blockSize }
  var files: [(path: String, size: UInt64)] { common.files }
}
