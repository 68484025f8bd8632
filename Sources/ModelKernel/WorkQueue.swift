import FaultKit

/// A kernel workqueue with one worker task: work items run in queue order in the worker's own
/// context (its own name in traces, lock holders and hit contexts). An idle worker parks, which
/// is not a hang.
public final class WorkQueue: @unchecked Sendable {
  public let name: String
  private var items: [(label: String, detail: String, run: @Sendable () async throws -> Void)] = []
  private let kernel: Kernel
  private let key: WaitKey
  /// Work items a worker runs before it stops: a bound, not a budget anyone should reach.
  public static let maxItems = 1 << 20

  public init(name: String, kernel: Kernel) {
    self.name = name
    self.kernel = kernel
    key = WaitKey(kind: WaitKind.workQueue, a: kernel.makeID())
  }

  /// Spawns the worker task (at mount).
  public func start() {
    let sched = kernel.scheduler
    sched.spawn(name, kind: .worker) { [self] in
      for _ in 0..<WorkQueue.maxItems {
        var waits = 0
        while items.isEmpty {
          waits += 1
          precondition(waits < 1 << 20, "worker wait did not converge")
          try await sched.block(on: key, what: "work on \(name)", idle: true)
        }
        let item = items.removeFirst()
        sched.beginOp(item.label)
        try await item.run()
        sched.endOp()
      }
    }
  }

  /// Queues work (a schedule point: the worker may run before the caller goes on). `label` is the
  /// work item's name (what `op:` filters match), `detail` what it works on.
  public func queue(
    _ label: String, _ detail: String = "", _ work: @escaping @Sendable () async throws -> Void
  ) async throws {
    items.append((label, detail, work))
    kernel.scheduler.wake(key)
    try await kernel.scheduler.point("queue \(label) on \(name)")
  }

  /// flush_workqueue: waits until everything queued before the call has run.
  public func flush() async throws {
    let done = Completion(kernel: kernel)
    try await queue("flush") { done.complete() }
    try await done.wait("flush of \(name)")
  }

  /// Drops queued work (crash).
  public func drop() { items.removeAll() }

  public var pending: [String] {
    items.map { $0.detail.isEmpty ? "\(name): \($0.label)" : "\(name): \($0.label) \($0.detail)" }
  }
}
