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
  ]

  public static let descriptor = EngineDescriptor(
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
      .dataDurable, .errorsReported, .pagecacheCoherent,
    ],
    checkSetup: { _ = try BtrfsSetup($0) },
    make: { ctx in try BtrfsEngine(ctx) })
}

/// The `setup:` section of a btrfs-model plan.
struct BtrfsSetup: Sendable {
  var blocks: UInt64 = 4096
  var blockSize: UInt64 = 4096
  var runBlocks: UInt64?
  var metadataBytes: UInt64 = 1 << 20
  var files: [(path: String, size: UInt64)] = []

  /// Blocks at the start of the device that hold the superblock and metadata.
  static let reservedBlocks: UInt64 = 16

  init(_ value: PlanValue?) throws {
    guard let value else { return }
    let m = try PlanMap(value, path: "setup", keys: ["device", "free-space", "metadata", "files"])
    if let d = m.value("device") {
      let dm = try PlanMap(d, path: "setup.device", keys: ["blocks", "block-size"])
      if let b = try dm.int("blocks", min: 64, max: 1 << 24) { blocks = UInt64(b) }
      if let bs = try dm.size("block-size") {
        guard [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].contains(bs) else {
          throw PlanError(
            dm.keyLocation("block-size"), key: "setup.device.block-size", expected: "a power of two from 512 to 64KiB",
            found: "\(bs)")
        }
        blockSize = bs
      }
    }
    if let f = m.value("free-space") {
      let fm = try PlanMap(f, path: "setup.free-space", keys: ["run-blocks"])
      if let r = try fm.int("run-blocks", min: 1, max: 1 << 20) { runBlocks = UInt64(r) }
    }
    if let md = try m.size("metadata") { metadataBytes = md }
    if let fl = m.value("files") {
      var seen = Set<String>()
      for (i, item) in try fl.list("setup.files").enumerated() {
        let fm = try PlanMap(item, path: "setup.files[\(i)]", keys: ["path", "size"])
        guard let p = try fm.string("path"), p.hasPrefix("/") else {
          throw PlanError(
            fm.location, key: "setup.files[\(i)].path", expected: "an absolute path like /a",
            found: (try? fm.string("path")).flatMap { $0 } ?? "none")
        }
        guard seen.insert(p).inserted else {
          throw PlanError(
            fm.keyLocation("path"), key: "setup.files[\(i)].path", expected: "each file once", found: "\(p) again")
        }
        files.append((p, try fm.size("size") ?? 0))
      }
    }
  }
}
