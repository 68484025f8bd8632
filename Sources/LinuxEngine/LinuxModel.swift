import FaultKit

/// Engine `linux`: its descriptor (catalog, operations, invariants) and how a setup is checked.
public enum LinuxModel {
  public static let name = "linux"

  public static let kernelClean: InvariantName = "kernel-clean"
  public static let fsErrorExplained: InvariantName = "fs-error-explained"
  /// Not an invariant: the filesystem's error reports after an injected fault, kept in the
  /// snapshot (and so in the diff) as what the kernel said.
  public static let fsErrorsReported: InvariantName = "fs-error-after-fault"
  public static let fsckClean: InvariantName = "fsck-clean"
  public static let delallocFlushed: InvariantName = "delalloc-flushed"
  public static let pagesSettled: InvariantName = "pages-settled"

  /// The invariant a kernel check's report breaks: lockdep's reports are about locks (one held
  /// returning to user space or at exit, freed while held, unlocked unbalanced, taken in an order
  /// that can deadlock, RCU used outside its read lock), the hung-task detector's about a task
  /// that does not finish; every other check (WARN, BUG, Oops, KASAN, kmemleak) is kernel-clean's.
  static func invariant(for kind: KernelReport.Kind) -> InvariantName {
    switch kind {
    case .lockdep: .locksReleased
    case .hungTask: .noHang
    default: kernelClean
    }
  }

  public static let catalog = FaultCatalog(
    [
      FaultPoint(
        "io.read", kind: .io, errnos: [.io], actions: [.fail],
        about: "a read of the guest's disk: UML's ubd driver preading the host image (the disk shim fails it)"),
      FaultPoint(
        "io.write", kind: .io, errnos: [.io], actions: [.fail],
        about: "a write of the guest's disk (data, metadata, journal): ubd's pwrite, or a discard or zeroing"),
      FaultPoint(
        "io.flush", kind: .io, errnos: [.io], actions: [.fail],
        about: "a cache flush of the guest's disk (REQ_OP_FLUSH: ubd's fdatasync of the host image)"),
      FaultPoint(
        "mem.alloc", kind: .allocator, errnos: [.noMemory], actions: [.fail], modes: [.transient],
        about:
          "an allocation the kernel makes for an operation, in the task that runs it (slab and page allocations that may fail, __GFP_NOFAIL ones not; not those of workers the operation hands work to): the kernel's fail-nth fails the chosen one, the operation's later allocations are then not counted; counted in plans whose setup says fail-nth: true; needs FAILSLAB, FAIL_PAGE_ALLOC and FAULT_INJECTION_DEBUG_FS"
      ),
      FaultPoint(
        "io.submit", kind: .io, errnos: [.io], actions: [.fail], modes: [.transient],
        about:
          "a bio submitted to the guest's disk inside the guest (submit_bio_noacct, by any task: the operation's, writeback, the filesystem's workers; empty flushes and the rest of a split bio too), while an operation is in the guest: the kernel's fail_make_request fails the chosen one with EIO before it reaches the driver; counted in plans whose setup says make-it-fail: true; needs FAIL_MAKE_REQUEST, FAULT_INJECTION_DEBUG_FS and EVENT_TRACING"
      ),
      FaultPoint(
        "power-cut", kind: .power, errnos: [], actions: [.crash],
        about:
          "after an operation returns: the machine loses power (every write since the last flush that reached the disk is gone), the plan's tasks stop, and the filesystem recovers from the disk when mounted again"
      ),
    ] + XfsErrortag.all.map(\.faultPoint))

  public static let operations: [OpKind] = [
    .create, .write, .append, .read, .fsync, .writeback, .dioWrite, .dioRead, .mmapWrite, .pageMkwrite, .dropCaches,
    .punch, .zeroRange, .fallocate, .truncate, .unlink, .rename, .mkdir, .link, .symlink, .setxattr, .removexattr,
  ]

  static let own: [any Invariant] = [
    KernelReported(
      name: .locksReleased,
      checks:
        "Lockdep said nothing during the scenario (from the kernel log): no lock held when a task returned to user space or exited (which lock, where it was taken, which task, as lockdep prints them), no lock freed while held, no unbalanced unlock, no lock order that can deadlock (circular or recursive locking, an inconsistent or irq-unsafe lock state), no RCU use outside its read lock. Each report is evidence as the kernel printed it, with its stack. Lockdep turns itself off after its first report, so the machine is booted afresh for the next scenario.",
      doesNotCheck:
        "What lockdep said before the scenario (booting, mkfs, the setup): baseline. Locks lockdep does not track (page locks, bit locks such as a buffer head's), and a kernel built without PROVE_LOCKING. Lockdep reports a lock held returning to user space only for the task that returns (a worker's lock is seen when it deadlocks someone)."
    ),
    KernelReported(
      name: .noHang,
      checks:
        "The kernel's hung-task detector said nothing during the scenario: no task blocked (D state) for 20 s (the guest's hung_task_timeout_secs; the engine gives up on an operation at 60 s and reads the kernel log first). Its report is the evidence: the task, its stack, and with lockdep every lock held in the system (the wait chain).",
      doesNotCheck:
        "A task that loops or sleeps interruptibly (not D state): the operation's timeout catches it, without the kernel's stack. A kernel built without DETECT_HUNG_TASK."
    ),
    KernelReported(
      name: kernelClean,
      checks:
        "The kernel's other checks said nothing during the scenario (from its log, /dev/kmsg): no WARN, BUG (sleeping in atomic context among them), Oops, KASAN or kmemleak report. Each report is evidence as the kernel printed it, with its stack. Messages the kernel overwrote before they were read make the scenario unjudged.",
      doesNotCheck:
        "What the kernel said before the scenario (booting, mkfs, the setup): baseline. Lockdep and hung-task reports (locks-released's and no-hang's). KASAN and kmemleak: faultline's kernel config builds neither enabled (their reports are classified if a kernel of yours prints them). Checks a kernel was not built with."
    ),
    KernelReported(
      name: fsErrorExplained,
      checks:
        "The filesystem reports an error (EXT4-fs error, a journal abort, a BTRFS error or transaction abort, an XFS shutdown or corruption report) only after a fault fired: with none, it found corruption nobody injected.",
      doesNotCheck:
        "Reports after an injected fault (the filesystem doing its job: they are kept in the diff, not judged), and whether the report was the least the filesystem could do."
    ),
    KernelReported(
      name: fsckClean,
      checks:
        "After the plan, a power cut (every write since the last flush that reached the disk is lost), the recovery mount and a clean unmount, the filesystem's own checker (e2fsck -fn, btrfs check --readonly, xfs_repair -n) finds nothing.",
      doesNotCheck: "The image between operations (only after the plan), and damage the checker does not look for."),
    KernelReported(
      name: delallocFlushed,
      checks:
        "At rest, no file whose last data operation was a successful fsync has delalloc left (FIEMAP): fsync returned with data not on disk. The delalloc-backed contract as the real kernel shows it.",
      doesNotCheck:
        "Dirty pages without delalloc (pages-settled's), files not fsync'd."
    ),
    PagesSettled(),
  ]

  public static let descriptor: EngineDescriptor = {
    var d = EngineDescriptor(
      name: name,
      about:
        "the real Linux kernel's ext4, btrfs or xfs in User-Mode Linux (a kernel from scripts/build-kernel or --kernel)",
      catalog: catalog, operations: operations, bugs: [],
      invariants: [.dataDurable, .errorsReported] + own.map(\.name), ownInvariants: own,
      checkSetup: {
        _ = try LinuxSetup($0)
        try LinuxKernel.checkFilesystem($0)
      },
      make: { try LinuxEngine($0) })
    d.verifies = true
    // The guest kernel schedules its own threads, writeback and workers.
    d.deterministic = false
    let points = catalog.points.map(\.name)
    let invariants = d.invariants.map(\.rawValue)
    d.features = { LinuxKernel.features(setup: $0, points: points, invariants: invariants) }
    return d
  }()
}

/// An invariant judged from the kernel's reports the engine put in the snapshot (assertions with
/// the invariant's name) and from `verify`'s findings under its name.
struct KernelReported: Invariant {
  let name: InvariantName
  let checks: String
  let doesNotCheck: String

  func check(_ c: InvariantContext) -> [Violation] {
    let known = Set(c.baseline.assertions.filter { $0.rule == name.rawValue }.map(\.detail))
    let new = c.current.assertions.filter { $0.rule == name.rawValue && !known.contains($0.detail) }
    return new.map { a in
      let lines = a.detail.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      return Violation(name, moment: c.moment, lines.first ?? "", evidence: Array(lines.dropFirst()))
    }
  }
}

/// `pages-settled`: at rest, the page cache of every plan file is settled (cachestat of each page,
/// which reads the page cache's dirty and writeback marks without touching the pages).
struct PagesSettled: Invariant {
  let name = LinuxModel.pagesSettled
  let checks =
    "At rest: no page of a plan file is under writeback (the disk is idle and the agent waited 2 s for completions: its writeback never ended, and whoever waits on it hangs), and no page of a file whose last data operation was a successful fsync is dirty (fsync returned with data only in memory). Evidence: the pages, by index."
  let doesNotCheck =
    "Locked pages: the page cache's lock bit is only in /proc/kpageflags, by page frame, and finding a file page's frame needs it mapped (pagemap), which waits on a locked page (a hang of the snapshot, not a finding): a page left locked shows when a task waits on it (no-hang). Uptodate and error bits (cachestat has none). Moments other than at rest (another task's writeback may be in flight). A kernel without cachestat (before 6.5): nothing is read."

  func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    let known = Set(c.baseline.assertions.filter { $0.rule == name.rawValue }.map(\.detail))
    return c.current.assertions.filter { $0.rule == name.rawValue && !known.contains($0.detail) }.map { a in
      let file = a.detail.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
      return Violation(
        name, moment: c.moment, a.detail, evidence: c.diff.lines(in: .page).filter { $0.hasPrefix("page \(file)#") })
    }
  }
}
