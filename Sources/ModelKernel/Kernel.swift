import FaultKit

/// The shared context of one model engine instance: the harness, the page size, and the id
/// counters that give every lockable object a `WaitKey`.
public final class Kernel: @unchecked Sendable {
  public let harness: Harness
  public let pageSize: UInt64
  private var nextID = 0

  public init(harness: Harness, pageSize: UInt64 = 4096) {
    self.harness = harness
    self.pageSize = pageSize
  }

  public var scheduler: Scheduler { harness.scheduler }

  /// A fresh object id, unique within this engine instance.
  public func makeID() -> Int {
    nextID += 1
    return nextID
  }
}

/// Namespaces of `WaitKey.kind` used by ModelKernel primitives.
public enum WaitKind {
  public static let pageLock: UInt8 = 1
  public static let pageWriteback: UInt8 = 2
  public static let rangeTree: UInt8 = 3
  public static let rwsem: UInt8 = 4
  public static let completion: UInt8 = 5
  public static let workQueue: UInt8 = 6
}

/// A one-shot completion tasks can wait for (an ordered extent finishing, a bio ending).
public final class Completion: @unchecked Sendable {
  public let key: WaitKey
  public private(set) var done = false
  private let kernel: Kernel

  public init(kernel: Kernel) {
    self.kernel = kernel
    key = WaitKey(kind: WaitKind.completion, a: kernel.makeID())
  }

  /// Waits until `complete()`; `what` names it in hang reports.
  public func wait(_ what: @autoclosure () -> String) async throws {
    var rounds = 0
    while !done {
      rounds += 1
      precondition(rounds < 1 << 20, "completion wait did not converge")
      try await kernel.scheduler.block(on: key, what: what())
    }
  }

  public func complete() {
    done = true
    kernel.scheduler.wake(key)
  }
}
