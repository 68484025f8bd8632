import FaultKit

/// A reader-writer semaphore (i_rwsem, i_data_sem, invalidate_lock): one writer or many readers;
/// waiters park. Reports itself to snapshots as a lock on `object`.
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
  }

  /// Releases the caller's hold (exclusive, or one shared hold of the running task).
  public func unlock() {
    if writer != nil {
      writer = nil
    } else {
      let me = kernel.harness.holder.task
      guard let i = readers.firstIndex(where: { $0.task == me }) ?? readers.indices.first else {
        preconditionFailure("unlocking \(resource), which nobody holds")
      }
      readers.remove(at: i)
    }
    kernel.scheduler.wake(key)
  }

  public var isLocked: Bool { writer != nil || !readers.isEmpty }

  /// True if the running task holds it (either mode).
  public var heldByCurrent: Bool {
    let me = kernel.harness.holder.task
    return writer?.task == me || readers.contains { $0.task == me }
  }

  public func report(into s: inout Snapshot) {
    let waiters = kernel.scheduler.waiters(key)
    if let w = writer {
      s.locks.append(LockRecord(kind: kind, object: object, mode: .exclusive, holders: [w], waiters: waiters))
    } else if !readers.isEmpty {
      s.locks.append(LockRecord(kind: kind, object: object, mode: .shared, holders: readers, waiters: waiters))
    }
  }
}
