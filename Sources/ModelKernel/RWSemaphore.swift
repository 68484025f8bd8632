import FaultKit

/// A reader-writer semaphore (i_rwsem, i_data_sem, invalidate_lock): one writer or many readers;
/// waiters park. Reports itself to snapshots as a lock on `object`. Takes and releases are
/// recorded in the kernel's `Lockdep`; an unlock by a task that holds neither the write lock nor
/// a read lock is a breach of `unlock-by-owner` (as DEBUG_RWSEMS warns), and still releases.
public final class RWSemaphore: @unchecked Sendable {
  public let kind: LockKind
  public let object: String
  private var writer: Holder?
  private var readers: [Holder] = []
  private let kernel: Kernel
  private let key: WaitKey

  public init(kind: LockKind, object: String, kernel: Kernel) {
    self.kind = kind
    self.object = object
    self.kernel = kernel
    key = WaitKey(kind: WaitKind.rwsem, a: kernel.makeID())
  }

  public var resource: String { "\(kind.rawValue) \(object)" }

  public func lockExclusive() async throws {
    try await kernel.scheduler.point("lock \(resource)")
    var rounds = 0
    while writer != nil || !readers.isEmpty {
      rounds += 1
      precondition(rounds < 1 << 20, "rwsem wait did not converge")
      try await kernel.scheduler.block(on: key, what: resource)
    }
    writer = kernel.harness.holder
    kernel.lockdep.acquired(kind, object, .exclusive)
  }

  public func lockShared() async throws {
    try await kernel.scheduler.point("lock \(resource) shared")
    var rounds = 0
    while writer != nil {
      rounds += 1
      precondition(rounds < 1 << 20, "rwsem wait did not converge")
      try await kernel.scheduler.block(on: key, what: resource)
    }
    readers.append(kernel.harness.holder)
    kernel.lockdep.acquired(kind, object, .shared)
  }

  /// Releases the caller's hold (exclusive, or one shared hold of the running task). Releasing
  /// another task's hold is recorded (`unlock-by-owner`) and done; releasing a semaphore nobody
  /// holds is recorded and does nothing.
  public func unlock() {
    let me = kernel.harness.holder.task
    if let w = writer {
      if w.task != me { kernel.lockdep.badUnlock("up_write", kind, object, owners: [w]) }
      writer = nil
      kernel.lockdep.released(kind, object, owner: w.task)
    } else if let i = readers.firstIndex(where: { $0.task == me }) {
      readers.remove(at: i)
      kernel.lockdep.released(kind, object, owner: me)
    } else if let first = readers.first {
      kernel.lockdep.badUnlock("up_read", kind, object, owners: readers)
      readers.removeFirst()
      kernel.lockdep.released(kind, object, owner: first.task)
    } else {
      kernel.lockdep.badUnlock("unlock", kind, object, owners: [])
      return
    }
    kernel.scheduler.wake(key)
  }

  public var isLocked: Bool { writer != nil || !readers.isEmpty }

  public func report(into s: inout Snapshot) {
    let waiters = kernel.scheduler.waiters(key)
    if let w = writer {
      s.locks.append(LockRecord(kind: kind, object: object, mode: .exclusive, holders: [w], waiters: waiters))
    } else if !readers.isEmpty {
      s.locks.append(LockRecord(kind: kind, object: object, mode: .shared, holders: readers, waiters: waiters))
    }
  }
}
