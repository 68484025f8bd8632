/// A single-threaded task executor: jobs queue up in order and `drain()` runs them on the calling
/// thread. Every task of a scenario prefers this executor, so exactly one runs at a time and the
/// order is decided by the `Scheduler` alone: deterministic by construction.
///
/// Not thread-safe by design: a scenario lives on one thread; `enqueue` is only called from jobs
/// this executor runs or from the thread that drains it.
final class DeterministicExecutor: TaskExecutor, @unchecked Sendable {
  private var queue: [UnownedJob] = []
  private var head = 0

  func enqueue(_ job: consuming ExecutorJob) {
    queue.append(UnownedJob(job))
  }

  /// Runs queued jobs until none is left.
  func drain() {
    while head < queue.count {
      let job = queue[head]
      head += 1
      job.runSynchronously(on: asUnownedTaskExecutor())
    }
    queue.removeAll(keepingCapacity: true)
    head = 0
  }

  var isIdle: Bool { head >= queue.count }
}
