import FaultKit
import ModelKernel

/// Engine `ext4-model`: ext4's journal credits and handle restarts, its extent tree and
/// extent-status cache, delayed allocation and punch hole, as seed 004 describes them: punch's
/// transaction restart drops i_data_sem, writeback of the next page reloads a whole leaf into the
/// status cache, and punch's final hole insert is what overwrites the stale entries.
public enum Ext4Model {
  /// The fault points, in catalog order; `Point` indexes into it.
  public static let catalog = FaultCatalog([
    FaultPoint(
      "alloc.data", kind: .allocator, errnos: [.noSpace],
      about:
        "ext4_mb_new_blocks() from ext4_ext_map_blocks() in writeback: allocate blocks for delayed data (may split)"),
    FaultPoint(
      "reserve.delalloc", kind: .reserve, errnos: [.noSpace, .quota],
      about: "ext4_da_reserve_space() from ext4_da_map_blocks() in a buffered write: reserve one delayed block"),
    FaultPoint(
      "txn.start", kind: .transaction, errnos: [.noSpace, .noMemory, .readOnly], actions: [.fail, .yield],
      about:
        "ext4_journal_start() / jbd2__journal_start(): open a handle (create, writeback, punch, truncate, unlink, and the start half of a restart)"
    ),
    FaultPoint(
      "txn.extend", kind: .transaction, errnos: [.io, .readOnly],
      about:
        "ext4_datasem_ensure_credits() / jbd2_journal_extend(): more credits per extent removed or inserted; any failure (fail, restart, or the transaction full) makes the caller restart its handle"
    ),
    FaultPoint(
      "txn.restart", kind: .transaction, errnos: [], actions: [.yield],
      about:
        "inside ext4_datasem_ensure_credits()'s restart: i_data_sem is dropped and the handle stopped, not yet restarted (seed 004's window)"
    ),
    FaultPoint(
      "txn.commit", kind: .transaction, errnos: [.io], actions: [.fail, .yield],
      about: "jbd2 commit forced by ext4_sync_file(): the running transaction's tree and sizes become durable"),
    FaultPoint(
      "io.write", kind: .io, errnos: [.io],
      about: "ext4_bio_write_folio() and its end_io: the data write of one page; an error sets the mapping error"),
    FaultPoint(
      "io.read", kind: .io, errnos: [.io],
      about: "ext4_mpage_readpages(): the data read of one block into a page"),
  ])

  enum Point {
    static let allocData = FaultPointID(0)
    static let reserveDelalloc = FaultPointID(1)
    static let txnStart = FaultPointID(2)
    static let txnExtend = FaultPointID(3)
    static let txnRestart = FaultPointID(4)
    static let txnCommit = FaultPointID(5)
    static let ioWrite = FaultPointID(6)
    static let ioRead = FaultPointID(7)
  }

  public static let bugs = [
    BugSwitch(
      "punch-skips-final-hole-insert",
      about:
        "ext4_punch_hole() does not finish with ext4_es_insert_extent(..., EXTENT_STATUS_HOLE): entries a concurrent writeback reloaded from a leaf while a restart had dropped i_data_sem survive, mapping freed blocks (seed 004)"
    ),
    BugSwitch(
      "map-blocks-without-lock",
      about:
        "writeback's mpage_prepare_extent_to_map() looks up the mapping of the next dirty page before locking it: ext4_map_blocks() runs without i_rwsem, the invalidate lock or the page lock (the rule seed 004 asks to assert)"
    ),
    BugSwitch(
      "writeback-maps-beyond-locked-pages",
      about:
        "writeback asks ext4_map_blocks() for the whole delayed extent rather than the pages it locked: blocks past the run are allocated with no i_rwsem, no invalidate lock and no page lock over them (seed 004's rule, for every block of the call)"
    ),
    BugSwitch(
      "map-blocks-error-leaks-blocks",
      about:
        "ext4_ext_map_blocks() returns an error after allocating (its credit restart failed to start a new handle) without freeing the blocks: allocated, still counted as used, mapped by nobody (what e2fsck calls block bitmap differences)"
    ),
    BugSwitch(
      "writeback-error-leaks-handle",
      about:
        "ext4_writepages() returns the error of a failed run without ext4_journal_stop(): the handle stays open past the operation, and jbd2's next commit would wait for it forever"
    ),
  ]

  public static let descriptor = EngineDescriptor(
    name: "ext4-model",
    about:
      "ext4 delalloc data path: journal handles with credits and restarts, extent tree and extent-status cache, punch hole, truncate, recovery",
    catalog: catalog,
    operations: [.create, .write, .writeback, .fsync, .read, .unlink, .punch, .truncate, .dropCaches],
    bugs: bugs,
    invariants: [
      .locksReleased, .noHang, .spaceBalanced, .extentCacheCoherent, .delallocBacked, .noDoubleAllocation,
      .dataDurable, .errorsReported, .pagecacheCoherent, MapBlocksLocked.ruleName, .unlockByOwner, .noBadPageState,
    ],
    ownInvariants: [MapBlocksLocked()],
    checkSetup: { _ = try Ext4Setup($0) },
    maxFileSize: ModelSetup.maxFileSize,
    make: { ctx in try Ext4Engine(ctx) })
}
