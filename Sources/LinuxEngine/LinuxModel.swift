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
  public static let pagesUnlocked: InvariantName = "pages-unlocked"
  public static let noLeak: InvariantName = "no-leak"

  /// The invariant a kernel check's report breaks: lockdep's reports are about locks (one held
  /// returning to user space or at exit, freed while held, unlocked unbalanced, taken in an order
  /// that can deadlock, RCU used outside its read lock), the hung-task detector's about a task
  /// that does not finish; kmemleak's about memory nobody references (no-leak); every other check
  /// (WARN, BUG, Oops, KASAN) is kernel-clean's.
  static func invariant(for kind: KernelReport.Kind) -> InvariantName {
    switch kind {
    case .lockdep: .locksReleased
    case .hungTask: .noHang
    case .kmemleak: noLeak
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
    .control,
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
        "The kernel's hung-task detector said nothing during the scenario: no task blocked (D state) for 20 s (the guest's hung_task_timeout_secs; the engine gives up on an operation at 60 s and reads the kernel log first, so a plan task stuck in the guest is reported with the detector's report, not as a bare timeout). Its report is the evidence: the task, its stack (what it waits in: a page lock, a completion, a mutex), and with lockdep every lock held in the system (the wait chain).",
      doesNotCheck:
        "A task that loops or sleeps interruptibly (not D state): the operation's timeout catches it, without the kernel's stack. A kernel built without DETECT_HUNG_TASK."
    ),
    KernelReported(
      name: kernelClean,
      checks:
        "The kernel's other checks said nothing during the scenario (from its log, /dev/kmsg): no WARN, BUG (sleeping in atomic context among them), Oops or KASAN report. Each report is evidence as the kernel printed it, with its stack. Messages the kernel overwrote before they were read make the scenario unjudged.",
      doesNotCheck:
        "What the kernel said before the scenario (booting, mkfs, the setup): baseline. Lockdep, hung-task and kmemleak reports (locks-released's, no-hang's and no-leak's). KASAN: faultline's kernel config does not build it (its reports are classified if a kernel of yours prints them). Checks a kernel was not built with."
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
    PagesUnlocked(),
    KernelReported(
      name: noLeak,
      checks:
        "In plans whose setup says kmemleak: true (the kernel boots with kmemleak=on, its scanning thread off): kmemleak's findings are cleared when the scenario starts (after two scans, so what came before is reported and let go); at rest, after the plan and kmemleak's minimum age (5 s), two scans find no object allocated since that is referenced from nowhere. Evidence: each object's size, the task that allocated it, its first bytes and its backtrace (the allocation site), as kmemleak prints them.",
      doesNotCheck:
        "Plans without kmemleak: true (nothing is scanned: a scan costs seconds, and the kernel runs slower with kmemleak on). Objects allocated before the scenario, leaks still referenced from somewhere (a list nobody walks), memory not from the slab or vmalloc allocators kmemleak tracks, and leaks after the at-rest scan (recovery, fsck). kmemleak's false positives (a pointer kept only in a form it does not scan) are reported as leaks: read the backtrace; its false negatives (a stale copy of a leaked object's address anywhere it scans counts as a reference: the planted 16 KiB leak was missed in 2 of 8 runs on fresh machines) pass. A kernel without DEBUG_KMEMLEAK (the setup is refused when the machine boots)."
    ),
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
    "Locked pages (pages-unlocked's). Uptodate and error bits (cachestat has none; PG_error is gone since 6.12). Moments other than at rest (another task's writeback may be in flight). A kernel without cachestat (before 6.5): no plan file's pages are read; without PROC_PAGE_MONITOR, no frame's."

  func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    return newAtRest(name, c).map { head, rest in
      let file = head.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
      return Violation(
        name, moment: c.moment, head, evidence: rest + c.diff.lines(in: .page).filter { $0.hasPrefix("page \(file)#") })
    }
  }
}

/// The assertions of `rule` at rest that the baseline did not have, compared by their first line
/// (what names the page or frame; the lines after it are its flags, which may change).
func newAtRest(_ rule: InvariantName, _ c: InvariantContext) -> [(head: String, rest: [String])] {
  func split(_ a: AssertionRecord) -> (String, [String]) {
    let lines = a.detail.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    return (lines.first ?? "", Array(lines.dropFirst()))
  }
  let known = Set(c.baseline.assertions.filter { $0.rule == rule.rawValue }.map { split($0).0 })
  return c.current.assertions.filter { $0.rule == rule.rawValue }.map(split).filter { !known.contains($0.0) }
}

/// `pages-unlocked`: at rest, no page frame of the guest is locked that was not at the baseline
/// (/proc/kpageflags, every frame of memory).
struct PagesUnlocked: Invariant {
  let name = LinuxModel.pagesUnlocked
  let checks =
    "At rest (the disk idle, and over 2 s of passes): no page frame of the guest's memory is locked (/proc/kpageflags bit 0) that was not locked at the baseline, after setup. A page left locked by an error path is what a later writer, truncate, writeback or unmount waits on for ever. Evidence: the frame number and its flags (uptodate, dirty, lru, mmap …); the power cut, recovery and fsck are not run after it (unmounting would wait on the page), which is said as unjudged."
  let doesNotCheck =
    "Which file (or metadata) a locked frame's page belongs to: /proc/kpageflags has flags only, and the way from a file to its frames (mapping it, reading pagemap) faults the page in, which waits on its lock. Moments other than at rest (pages are locked for every read and write in flight). Pages locked for less than the 2 s the agent watches. Frames past the first 256 flagged (said as unjudged). A kernel without PROC_PAGE_MONITOR (nothing is read)."

  func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest else { return [] }
    return newAtRest(name, c).map { Violation(name, moment: c.moment, $0.head, evidence: $0.rest) }
  }
}
