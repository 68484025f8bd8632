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

  public static let catalog = FaultCatalog([
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
      "power-cut", kind: .power, errnos: [], actions: [.crash],
      about:
        "after an operation returns: the machine loses power (every write since the last flush that reached the disk is gone), the plan's tasks stop, and the filesystem recovers from the disk when mounted again"
    ),
  ])

  public static let operations: [OpKind] = [
    .create, .write, .append, .read, .fsync, .writeback, .dioWrite, .dioRead, .mmapWrite, .pageMkwrite, .dropCaches,
    .punch, .zeroRange, .fallocate, .truncate, .unlink, .rename, .mkdir, .link, .symlink, .setxattr, .removexattr,
  ]

  static let own: [any Invariant] = [
    KernelReported(
      name: kernelClean,
      checks:
        "The kernel's own checks said nothing during the scenario (from its log, /dev/kmsg): no WARN, BUG, Oops, lockdep report (lock inversion, recursion, a lock held returning to user space, sleeping in atomic), hung task (the guest reports a task blocked for 20 s, before the engine gives up on an operation at 60 s). Each report is evidence as the kernel printed it, with its stack. Messages the kernel overwrote before they were read make the scenario unjudged.",
      doesNotCheck:
        "What the kernel said before the scenario (booting, mkfs, the setup): baseline. KASAN and kmemleak: faultline's kernel config builds neither enabled (their reports are classified if a kernel of yours prints them). Checks a kernel was not built with."
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
        "Dirty pages without delalloc (the page cache's flags need the kernel's page-state instruments), files not fsync'd."
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
