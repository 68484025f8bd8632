/// fsync's error contract per file description, as errseq gives it since Linux 4.13: every open
/// file description that has not yet seen a writeback error on a file gets it, once, from its
/// next fsync. Each plan task stands for its own file description of every file it names (opened
/// when the scenario starts). The engine tells the harness when it records a writeback error on a
/// file's mapping (`Harness.writebackError`: mapping_set_error in ModelKernel's page cache); this
/// oracle keeps its own cursor per task and file, and judges every fsync's outcome against it.
///
/// Checks `errors-reported`: an fsync that returned success although a writeback error was
/// recorded on its file after its task last checked (by an fsync) and before this fsync began,
/// or during it by its own task (its own writeback), is a violation. An error recorded during the
/// fsync by another task (an I/O completion worker, another writer) may land after the fsync
/// checked: such an fsync may miss it, and the task's next fsync must report it. An fsync that
/// returned an error has seen every error recorded before it returned.
///
/// A rename carries a file's recorded errors to its new name (they are the inode's, and so are
/// the tasks' file descriptions) and retires those of the file it replaced.
///
/// Does not check: errors the engine never records on the mapping (lost data nobody recorded is
/// the data oracle's business), fsync reporting an error more than once (errors from other
/// causes are legitimate), file descriptions opened after an error (every task opens at the
/// start), and engines that do not tell the harness (C engines): they pass vacuously. Unchecked
/// Sendable: the tasks of a scenario run one at a time on one thread.
final class ErrseqOracle: @unchecked Sendable {
  struct Recorded {
    /// The file's name now: a rename moves it with the inode.
    var file: String
    let error: FSError
    /// The oracle's clock when it was recorded.
    let at: Int
    /// The task that recorded it (whose op, or a worker).
    let by: Holder
  }

  private var clock = 0
  private var recorded: [Recorded] = []
  /// Per task: its current op's start, and which recorded errors it has been told of (or was
  /// reported as not told: one violation per error and task).
  private var started: [String: Int] = [:]
  private var told: [String: Set<Int>] = [:]
  /// Errors recorded on a file that has since been unlinked or created anew: no one's to report.
  private var retired: Set<Int> = []
  private(set) var violations: [Violation] = []

  init(harness: Harness) {
    harness.onWritebackError = { [weak self, unowned harness] file, error in
      guard let self else { return }
      clock += 1
      recorded.append(Recorded(file: file, error: error, at: clock, by: harness.holder))
    }
  }

  /// A plan task starts an operation.
  func begin(task: String) {
    clock += 1
    started[task] = clock
  }

  /// A plan task's operation ended with `outcome`.
  func end(task: String, index: Int, op: Operation, outcome: OpOutcome) {
    clock += 1
    let start = started[task] ?? 0
    switch (op.kind, outcome.status) {
    case (.create, .ok), (.unlink, .ok):
      // Another file from now on: what was recorded on the old one is no one's to report.
      for i in recorded.indices where recorded[i].file == op.path { retired.insert(i) }
    case (.rename, .ok):
      // The inode moves to `target`, its errors with it; the file it replaced is gone.
      guard let target = op.target, target != op.path else { return }
      for i in recorded.indices where recorded[i].file == target { retired.insert(i) }
      for i in recorded.indices where recorded[i].file == op.path && !retired.contains(i) {
        recorded[i].file = target
      }
    case (.fsync, .error):
      for i in recorded.indices where recorded[i].file == op.path { told[task, default: []].insert(i) }
    case (.fsync, .ok):
      var missed: [Int] = []
      for i in recorded.indices where recorded[i].file == op.path && !retired.contains(i) {
        guard !(told[task]?.contains(i) ?? false) else { continue }
        let r = recorded[i]
        if r.at < start || r.by.task == task { missed.append(i) }
      }
      guard !missed.isEmpty else { return }
      for i in missed { told[task, default: []].insert(i) }
      let what = missed.map { i in
        "\(recorded[i].error.errno.name) recorded on \(op.path) by \(recorded[i].by)"
      }
      violations.append(
        Violation(
          .errorsReported, moment: .atRest,
          "\(task)'s fsync #\(index) of \(op.path) returned success, but the writeback error "
            + "\(what.joined(separator: "; ")) was never reported to \(task) (errseq: every file "
            + "description that has not seen a writeback error gets it from its next fsync)",
          evidence: what))
    default:
      break
    }
  }
}
