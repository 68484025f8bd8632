import Foundation

/// One thread that lives as long as the process, for starting child processes that ask the
/// kernel to kill them when their parent dies (PR_SET_PDEATHSIG): the kernel means the *thread*
/// that forked them, so a child started from a short-lived thread (a job thread, a budget's
/// timer thread) would die with that thread in the middle of the run.
public final class SpawnThread: @unchecked Sendable {
  public static let shared = SpawnThread()

  private let condition = NSCondition()
  private var queue: [() -> Void] = []

  private init() {
    let thread = Thread { [self] in serve() }
    thread.name = "faultline-spawn"
    thread.start()
  }

  /// Runs `body` on the spawn thread and returns what it returned.
  public func run<T>(_ body: @escaping () -> T) -> T {
    var result: T?
    let done = NSCondition()
    condition.lock()
    queue.append {
      let r = body()
      done.lock()
      result = r
      done.signal()
      done.unlock()
    }
    condition.signal()
    condition.unlock()
    done.lock()
    // Bounded by the body's own bounds: it runs once, then signals.
    while result == nil { done.wait() }
    done.unlock()
    return result!
  }

  private func serve() {
    // Bounded by the process's life: each pass runs what was queued.
    while true {
      condition.lock()
      while queue.isEmpty { condition.wait() }
      let work = queue
      queue.removeAll()
      condition.unlock()
      for w in work { w() }
    }
  }
}
