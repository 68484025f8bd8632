import FaultKit

/// A handle on the running transaction (jbd2's `handle_t`): the credits (journal blocks) the
/// operation may still dirty, granted at start and by `extend`. An open handle is a held
/// resource: jbd2's commit waits for every handle of the transaction to stop, so a handle an
/// error path never stops holds up the journal. Snapshots report it as a `handle` lock held by
/// the task and operation that started it.
public final class JournalHandle: @unchecked Sendable {
  /// Numbered per journal in start order: the handle's name in snapshots.
  public let id: Int
  /// Who started it (nil for a journal with no kernel to ask).
  public let holder: Holder?
  /// Credits granted to this handle in its current transaction.
  public fileprivate(set) var credits: Int
  /// The transaction it belongs to.
  public fileprivate(set) var tid: UInt64
  /// False once stopped (or after a restart whose start failed).
  public fileprivate(set) var isOpen = true

  fileprivate init(id: Int, credits: Int, tid: UInt64, holder: Holder?) {
    self.id = id
    self.credits = credits
    self.tid = tid
    self.holder = holder
  }
}

/// A jbd2-style journal reduced to its credit accounting: one running transaction holding at most
/// `capacity` credits. Starting a handle that does not fit closes the running transaction (the
/// next one begins); extending a handle that does not fit fails, and the caller must restart its
/// handle (`jbd2_journal_extend` returning > 0, then `jbd2__journal_restart`), which closes the
/// running transaction too. Durability is not the journal's business here: an engine decides
/// what a commit makes durable (`BlockDevice.committedRoot`). Fault points are the engine's: the
/// journal never fails on its own except for credits.
public final class Journal: @unchecked Sendable {
  /// Credits one transaction holds.
  public let capacity: Int
  /// The running transaction's id.
  public private(set) var tid: UInt64 = 1
  /// Credits granted so far in the running transaction (stopping a handle does not return them:
  /// the model counts every granted credit as used).
  public private(set) var running = 0
  /// Transactions closed so far (by a full transaction, a restart or a commit).
  public private(set) var closed = 0
  private var open: [JournalHandle] = []
  private var started = 0
  private let kernel: Kernel?

  /// With `kernel`, each handle remembers the task and operation that started it.
  public init(capacity: Int, kernel: Kernel? = nil) {
    precondition(capacity > 0, "a journal needs credits")
    self.capacity = capacity
    self.kernel = kernel
  }

  /// `jbd2__journal_start`: a handle with `credits`; closes the running transaction first when
  /// they do not fit in it.
  public func start(credits: Int) -> JournalHandle {
    precondition(credits > 0 && credits <= capacity, "handle of \(credits) credits in a journal of \(capacity)")
    if running + credits > capacity { close() }
    running += credits
    started += 1
    let h = JournalHandle(id: started, credits: credits, tid: tid, holder: kernel?.harness.holder)
    open.append(h)
    return h
  }

  /// `jbd2_journal_extend`: true when `credits` more fit in the running transaction (and the
  /// handle is in it); false when the caller must restart.
  public func extend(_ h: JournalHandle, by credits: Int) -> Bool {
    precondition(h.isOpen, "extending a stopped handle")
    guard h.tid == tid, running + credits <= capacity else { return false }
    running += credits
    h.credits += credits
    return true
  }

  /// `jbd2_journal_stop`. Stopping a stopped handle does nothing.
  public func stop(_ h: JournalHandle) {
    guard h.isOpen else { return }
    h.isOpen = false
    open.removeAll { $0 === h }
  }

  /// The first half of `jbd2__journal_restart`: stops the handle and closes the running
  /// transaction, so the handle's earlier changes can commit on their own.
  public func stopForRestart(_ h: JournalHandle) {
    stop(h)
    close()
  }

  /// The second half: the same handle starts again in the new transaction with `credits`.
  public func restart(_ h: JournalHandle, credits: Int) {
    precondition(!h.isOpen, "restarting an open handle")
    precondition(credits > 0 && credits <= capacity, "handle of \(credits) credits in a journal of \(capacity)")
    if running + credits > capacity { close() }
    running += credits
    h.credits = credits
    h.tid = tid
    h.isOpen = true
    open.append(h)
  }

  /// Closes the running transaction; handles still open move into the new one with their credits.
  public func close() {
    tid += 1
    closed += 1
    running = open.reduce(0) { $0 + $1.credits }
    for h in open { h.tid = tid }
  }

  /// Handles not yet stopped.
  public var openHandles: Int { open.count }

  /// Every open handle as a held resource: `handle jbd2 #3`, held by the task and operation
  /// that started it. A handle between the two halves of a restart is stopped and not reported.
  public func report(into s: inout Snapshot) {
    for h in open {
      s.locks.append(LockRecord(kind: .handle, object: "jbd2 #\(h.id)", holders: h.holder.map { [$0] } ?? []))
    }
  }
}
