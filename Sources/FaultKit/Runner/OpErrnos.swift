/// What an operation may fail with, and what must explain it: the harness's own judgment of op
/// outcomes, which holds whatever faults a sweep places (where a plan's `expect: ops` cannot).
///
/// An op that failed must have failed with an errno its system call may return: the ERRORS of
/// its Linux man page (with open(2)'s path errors: a plan's ops name their file by path), plus ENOMEM (any call may run out of memory), EUCLEAN (EFSCORRUPTED: ext4,
/// xfs and btrfs return it from any call that meets corrupt metadata), and, where a man page
/// omits what Linux filesystems return through that call, those (each named below). And a
/// resource or media error (EIO, ENOSPC, EDQUOT, ENOMEM, EROFS, EUCLEAN, EFAULT) needs a cause: it
/// is the injected error handed on, or a fault (other than a yield) fired before the op returned,
/// or the plan meets the same errno without any fault (a full device, a `corrupt` op: the run
/// without faults returns it too). Other errnos (ENOENT, EEXIST, EINVAL …) follow from the plan's
/// arguments and the interleaving and need no cause.
///
/// Does not judge: harness actions that are no system call (`migrate-page`, `drop-caches`,
/// `corrupt`), writes to kernel control files (`control`: their errnos are the control's), ops that succeeded or did not finish, and which of several allowed errnos is the
/// right one.
public enum OpErrnos {
  /// Errnos by number, for the ones `Errno` has no name for.
  static func e(_ n: Int32) -> Errno { Errno(rawValue: n) }
  static let access = e(13), crossDevice = e(18), noDevice = e(19), textBusy = e(26), spipe = e(29)
  static let pipe = e(32), loop = e(40), noSys = e(38), destAddr = e(89), nxio = e(6), mfile = e(24), nfile = e(23)

  /// Every call may return these: no memory, and corrupt metadata found on the way.
  static let always: Set<Errno> = [.noMemory, .corrupted]
  /// A filesystem that went read-only after an error (errors=remount-ro, an aborted journal)
  /// returns EROFS from calls that modify it, whether or not their man page says so.
  static let modifies: Set<Errno> = [.readOnly]
  /// Resolving a path (path_resolution(7)): the errors every path-taking call lists. A plan's
  /// ops name their file by path, so calls on a file descriptor (read, write, fsync …) may fail
  /// as the open(2) before them would.
  static let path: Set<Errno> = [access, .fault, loop, .nameTooLong, .noEntry, .notDirectory]

  /// write(2) (append and O_DIRECT writes too: EINVAL covers misalignment).
  static let write: Set<Errno> = [
    .again, .badFile, destAddr, .quota, .fault, .fileTooLarge, .interrupted, .invalid, .io, .noSpace,
    .notPermitted, pipe,
  ]
  /// read(2).
  static let read: Set<Errno> = [.again, .badFile, .fault, .interrupted, .invalid, .io, .isDirectory]
  /// An O_DIRECT read(2) writes back the cached dirty pages of its range first and returns that
  /// write-back's error (iomap_dio_rw → kiocb_write_and_wait → filemap_write_and_wait_range): a
  /// filesystem that allocates at writeback can fail it with ENOSPC or EDQUOT.
  static let dioRead: Set<Errno> = read.union([.noSpace, .quota])
  /// fsync(2): EDQUOT and ENOSPC are listed for filesystems that allocate at writeback.
  static let fsync: Set<Errno> = [.badFile, .interrupted, .io, .readOnly, .invalid, .noSpace, .quota]
  /// sync_file_range(2) (the `writeback` op); EDQUOT as for fsync.
  static let syncFileRange: Set<Errno> = [.badFile, .invalid, .io, .noSpace, spipe, .quota]
  /// A store through a shared mapping, or the write fault behind it: no system call, but the
  /// signal a failed fault raises, as the model engines spell it (EINVAL for SIGBUS beyond EOF;
  /// ENOSPC, EDQUOT and EIO for page_mkwrite's VM_FAULT_SIGBUS; EFAULT).
  static let store: Set<Errno> = [.fault, .invalid, .io, .noSpace, .quota]
  /// open(2) with O_CREAT. EIO: reading the directory or the inode table can fail (Linux returns
  /// it; open(2) does not list it).
  static let create: Set<Errno> =
    path.union([
      .busy, .quota, .exists, .fileTooLarge, .interrupted, .invalid, .isDirectory, mfile, nfile, noDevice, .noSpace,
      nxio, .notSupported, .overflow, .notPermitted, .readOnly, textBusy, .again, .io,
    ])
  /// unlink(2). ENOSPC: btrfs needs a transaction with metadata reserved to unlink and returns it
  /// when that cannot be had (unlink(2) does not list it).
  static let unlink: Set<Errno> = path.union([.busy, .io, .isDirectory, .notPermitted, .readOnly, .noSpace])
  /// truncate(2). ENOSPC as for unlink: btrfs reserves metadata for the transaction that frees
  /// the blocks, and a full filesystem fails the truncate with it (truncate(2) does not list it).
  static let truncate: Set<Errno> =
    path.union([
      .fileTooLarge, .interrupted, .invalid, .io, .isDirectory, .notPermitted, .readOnly, textBusy, .noSpace,
    ])
  /// fallocate(2) (punch is FALLOC_FL_PUNCH_HOLE). EDQUOT: allocating charges quota (the man page
  /// does not list it; Linux returns it).
  static let fallocate: Set<Errno> = [
    .badFile, .fileTooLarge, .interrupted, .invalid, .io, noDevice, .noSpace, noSys, .notSupported, .notPermitted,
    spipe, textBusy, .quota,
  ]
  /// mkdir(2).
  static let mkdir: Set<Errno> =
    path.union([.badFile, .quota, .exists, .invalid, .tooManyLinks, .noSpace, .notPermitted, .readOnly, .io])
  /// link(2).
  static let link: Set<Errno> =
    path.union([.quota, .exists, .io, .tooManyLinks, .noSpace, .notPermitted, .readOnly, crossDevice])
  /// symlink(2).
  static let symlink: Set<Errno> = path.union([.badFile, .quota, .exists, .io, .noSpace, .notPermitted, .readOnly])
  /// setxattr(2), with stat(2)'s path errors. EIO as for create.
  static let setxattr: Set<Errno> =
    path.union([.quota, .exists, .noData, .noSpace, .notSupported, .notPermitted, .range, .tooBig, .io])
  /// removexattr(2), with stat(2)'s path errors. EIO as for create.
  static let removexattr: Set<Errno> = path.union([.noData, .notSupported, .notPermitted, .io])
  /// rename(2).
  static let rename: Set<Errno> =
    path.union([
      .busy, .quota, .invalid, .isDirectory, .tooManyLinks, .noSpace, .notEmpty, .exists, .notPermitted, .readOnly,
      crossDevice, .io,
    ])

  /// What `kind` may fail with; nil for harness actions that are no system call.
  public static func allowed(_ kind: OpKind) -> Set<Errno>? {
    let base: Set<Errno>
    switch kind {
    case .write, .append, .dioWrite: base = write.union(modifies)
    case .read: base = read
    case .dioRead: base = dioRead
    case .fsync: base = fsync
    case .writeback: base = syncFileRange.union(modifies)
    case .mmapWrite, .pageMkwrite: base = store
    case .create: base = create
    case .unlink: base = unlink
    case .truncate: base = truncate
    case .punch, .fallocate, .zeroRange: base = fallocate.union(modifies)
    case .rename: base = rename.union(modifies)
    case .mkdir: base = mkdir
    case .link: base = link
    case .symlink: base = symlink
    case .setxattr: base = setxattr.union(modifies)
    case .removexattr: base = removexattr.union(modifies)
    case .migratePage, .dropCaches, .corrupt: return nil
    // A control file's write returns whatever its kernel code decides.
    case .control: return nil
    }
    return base.union(always).union(path)
  }

  /// Errors that say a resource ran out or the medium failed: they need a cause.
  public static let needCause: Set<Errno> = [.io, .noSpace, .quota, .noMemory, .readOnly, .corrupted, .fault]

  /// Why an op that failed with `outcome` breaks the contract, or nil. `faultBefore`: a fault
  /// other than a yield fired in the scenario before the op returned. Does not consult the run
  /// without faults: the caller does, for what this calls unexplained (`needsCause`).
  static func invalid(_ op: Operation, _ outcome: OpOutcome) -> String? {
    guard outcome.status == .error, let errno = outcome.errno, let allowed = allowed(op.kind) else { return nil }
    guard !allowed.contains(errno) else { return nil }
    return "\(op.kind.rawValue) returned \(outcome.description), which \(syscall(op.kind)) never returns"
  }

  /// True when the op's error needs a cause and neither the injection nor an earlier fault gives
  /// one.
  static func needsCause(_ op: Operation, _ outcome: OpOutcome, faultBefore: Bool) -> Bool {
    guard outcome.status == .error, let errno = outcome.errno, allowed(op.kind) != nil else { return false }
    return needCause.contains(errno) && outcome.injected == nil && !faultBefore
  }

  static func syscall(_ kind: OpKind) -> String {
    switch kind {
    case .write, .append, .dioWrite: "write(2)"
    case .read, .dioRead: "read(2)"
    case .fsync: "fsync(2)"
    case .writeback: "sync_file_range(2)"
    case .mmapWrite, .pageMkwrite: "a store through a shared mapping"
    case .create: "open(2) with O_CREAT"
    case .unlink: "unlink(2)"
    case .truncate: "truncate(2)"
    case .punch, .fallocate, .zeroRange: "fallocate(2)"
    case .rename: "rename(2)"
    case .mkdir: "mkdir(2)"
    case .link: "link(2)"
    case .symlink: "symlink(2)"
    case .setxattr: "setxattr(2)"
    case .removexattr: "removexattr(2)"
    case .migratePage, .dropCaches, .corrupt: "no system call"
    case .control: "write(2) to a kernel control file"
    }
  }
}

/// Judges one scenario's op errors as they come (`OpErrnos`): an errno its system call never
/// returns is a violation at once; an error that needs a cause and has none in the run is held
/// until the end, when the run without faults says whether the plan meets it anyway. Unchecked
/// Sendable: a scenario's tasks run one at a time on one thread.
final class OpErrorJudge: @unchecked Sendable {
  struct Held {
    let task: String
    let index: Int
    let op: Operation
    let outcome: OpOutcome
  }
  private(set) var violations: [Violation] = []
  private var held: [Held] = []

  /// A plan task's op ended; `faultBefore`: a fault other than a yield has fired so far.
  /// `faultBefore` is asked only for an operation that failed (every operation ends here).
  func ended(task: String, index: Int, op: Operation, outcome: OpOutcome, faultBefore: @autoclosure () -> Bool) {
    guard outcome.status == .error else { return }
    let moment = Moment.afterFailedOp(task: task, op: index, opName: op.kind.rawValue)
    if let why = OpErrnos.invalid(op, outcome) {
      violations.append(Violation(.opErrorsExplained, moment: moment, "\(task) op \(index) \(why)"))
    } else if OpErrnos.needsCause(op, outcome, faultBefore: faultBefore()) {
      held.append(Held(task: task, index: index, op: op, outcome: outcome))
    }
  }

  /// The violations, once the held errors are weighed against `faultFreeErrnos`: the errnos the
  /// same plan returns with no fault placed (nil when this run had no fault, so that every error
  /// in it is the plan's own, or when the run without faults could not be made).
  func judged(faultFreeErrnos: () -> Set<Errno>?) -> [Violation] {
    guard !held.isEmpty, let real = faultFreeErrnos() else { return violations }
    var out = violations
    for h in held where !real.contains(h.outcome.errno!) {
      out.append(
        Violation(
          .opErrorsExplained,
          moment: .afterFailedOp(task: h.task, op: h.index, opName: h.op.kind.rawValue),
          "\(h.task) op \(h.index) \(h.op.kind.rawValue) returned \(h.outcome.description) with no fault fired "
            + "before it, and the plan without faults never returns \(h.outcome.errno!.name): nothing explains it"))
    }
    return out
  }
}
