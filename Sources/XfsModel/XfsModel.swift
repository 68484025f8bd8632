import FaultKit
import ModelKernel

/// Engine `xfs-model`: XFS's iomap buffered-write path as seed 003 describes it: delalloc
/// reservations made by iomap_begin under the ILOCK and stamped with the data fork's sequence
/// number, a page-by-page copy that can come up short, iomap_end's handling of the delalloc a
/// short write did not use, page_mkwrite without i_rwsem, and writeback converting delalloc.
public enum XfsModel {
  public static let catalog = FaultCatalog([
    FaultPoint(
      "reserve.delalloc", kind: .reserve, errnos: [.noSpace, .quota],
      about: "xfs_buffered_write_iomap_begin: reserve delalloc blocks over a hole (xfs_bmapi_reserve_delalloc)"),
    FaultPoint(
      "copy.user", kind: .copy, errnos: [.fault],
      about: "copy_folio_from_iter in iomap_write_iter: the copy from the user buffer; short when the buffer faults"),
    FaultPoint(
      "iomap.mapped", kind: .sync, errnos: [],
      about:
        "iomap_begin has returned a mapping stamped with the fork sequence; the folio is not locked yet (the stale-mapping window)"
    ),
    FaultPoint(
      "alloc.data", kind: .allocator, errnos: [.noSpace],
      about: "xfs_bmapi_convert_delalloc in writeback: allocate real blocks for delalloc (may split)"),
    FaultPoint("io.write", kind: .io, errnos: [.io], about: "the writeback bio for one page"),
    FaultPoint("io.read", kind: .io, errnos: [.io], about: "reading one block of a written extent into a page"),
    FaultPoint(
      "txn.commit", kind: .transaction, errnos: [.io, .noSpace], actions: [.fail, .yield],
      about: "the log force in fsync (xfs_log_force_seq): make the extent map and size durable"),
  ])

  enum Point {
    static let reserveDelalloc = FaultPointID(0)
    static let copyUser = FaultPointID(1)
    static let iomapMapped = FaultPointID(2)
    static let allocData = FaultPointID(3)
    static let ioWrite = FaultPointID(4)
    static let ioRead = FaultPointID(5)
    static let txnCommit = FaultPointID(6)
  }

  public static let bugs = [
    BugSwitch(
      "short-write-punches-under-dirty-page",
      about:
        "on a short write, iomap_end truncates the page cache and punches the whole remaining delalloc range it reserved, including pages another context (page_mkwrite) dirtied meanwhile: the fix the thread rejects (seed 003)"
    ),
    BugSwitch(
      "short-write-leaves-unbacked-delalloc",
      about:
        "on a short write, iomap_end keeps the delalloc it reserved and did not write: delalloc within EOF with no data over it, the landmine the thread names (seed 003)"
    ),
    BugSwitch(
      "no-iomap-revalidation",
      about:
        "a mapping is used after the data fork changed under it (no ->iomap_valid check against the fork sequence): a stale DELALLOC mapping zero-fills a block that is now written (seed 003)"
    ),
  ]

  public static let descriptor = EngineDescriptor(
    name: "xfs-model",
    about:
      "XFS iomap buffered write: delalloc reservations, short copies and iomap_end's punch, page_mkwrite, mapping revalidation",
    catalog: catalog,
    operations: [.create, .write, .writeback, .fsync, .read, .unlink, .punch, .truncate, .pageMkwrite, .dropCaches],
    bugs: bugs,
    invariants: [
      .locksReleased, .noHang, .spaceBalanced, .delallocBacked, .noDoubleAllocation, .dataDurable, .errorsReported,
      .pagecacheCoherent, .unlockByOwner, .noBadPageState,
    ],
    checkSetup: { _ = try ModelSetup($0) },
    maxFileSize: ModelSetup.maxFileSize,
    make: { ctx in try XfsEngine(ctx) })
}
