import FaultKit

/// The shared context of one model engine instance: the harness, the page size, and the id
/// counters that give every lockable object a `WaitKey`.
public final class Kernel: @unchecked Sendable {
  public let harness: Harness
  public let pageSize: UInt64
  private var nextID = 0
  /// Who holds which lock, kept by the lock primitives themselves.
  public private(set) lazy var lockdep = Lockdep(kernel: self)
  /// Rules the kernel primitives found broken as the engine ran (an unlock by a task that does
  /// not hold the lock, a page that left the cache under writeback, a locking rule an engine's
  /// call broke), in order: engines put them in their snapshots' `assertions`, where the
  /// invariant named by each record's rule judges them.
  public private(set) var broken: [AssertionRecord] = []
  /// Records kept: the first ones tell the story; later ones are dropped.
  public static let maxBroken = 256

  public init(harness: Harness, pageSize: UInt64 = 4096) {
    self.harness = harness
    self.pageSize = pageSize
  }

  public var scheduler: Scheduler { harness.scheduler }

  /// Records a broken rule (bounded by `maxBroken`).
  public func report(_ rule: String, _ detail: String) {
    if broken.count < Kernel.maxBroken { broken.append(AssertionRecord(rule: rule, detail: detail)) }
  }

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
