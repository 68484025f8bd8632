import CFaultlineSupport
import Foundation

/// Spawns worker processes (posix_spawn of this binary, `sweep-worker`), all from one thread
/// that lives as long as the process. A worker asks the kernel to kill it when its parent dies
/// (PR_SET_PDEATHSIG), and the kernel means the *thread* that spawned it: spawned from a job
/// thread that ends, a worker would be killed in the middle of the sweep.
///
/// Workers stay in the sweep's process group (kill -9 of the group, or Ctrl-C at a terminal,
/// reaches them too), get `SWIFT_BACKTRACE=enable=no` unless the user set it (a crash ends the
/// worker at once instead of after a symbolicating backtracer), and `FAULTLINE_WORKER_PARENT`,
/// which they compare with getppid() once their death signal is set (a parent that died before
/// then would otherwise leave them running).
final class WorkerSpawner: @unchecked Sendable {
  static let shared = WorkerSpawner()

  private final class Request {
    let request: Int32
    let answer: Int32
    let output: Int32
    var result: Result<pid_t, WorkerStartFailure>?
    init(request: Int32, answer: Int32, output: Int32) {
      self.request = request
      self.answer = answer
      self.output = output
    }
  }

  private let condition = NSCondition()
  private var queue: [Request] = []
  private let executable: String
  private let environment: [String]

  private init() {
    executable =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var env = ProcessInfo.processInfo.environment
    env["FAULTLINE_WORKER_PARENT"] = String(getpid())
    if env["SWIFT_BACKTRACE"] == nil { env["SWIFT_BACKTRACE"] = "enable=no" }
    environment = env.map { "\($0.key)=\($0.value)" }.sorted()
    let thread = Thread { [self] in serve() }
    thread.name = "faultline-spawner"
    thread.start()
  }

  /// Spawns a worker with `request` as its descriptor 3, `answer` as its descriptor 4 and
  /// `output` as its standard output and error.
  func spawn(request: Int32, answer: Int32, output: Int32) -> Result<pid_t, WorkerStartFailure> {
    let r = Request(request: request, answer: answer, output: output)
    condition.lock()
    defer { condition.unlock() }
    queue.append(r)
    condition.broadcast()
    let end = Date(timeIntervalSinceNow: 30)
    while r.result == nil {
      if !condition.wait(until: end) && r.result == nil {
        return .failure(WorkerStartFailure("the thread that spawns workers did not answer within 30s"))
      }
    }
    return r.result!
  }

  /// The spawning thread: it waits for requests for as long as the process lives (it is never
  /// joined, and exit ends it).
  private func serve() {
    while true {
      condition.lock()
      while queue.isEmpty { condition.wait() }
      let r = queue.removeFirst()
      condition.unlock()
      let result = spawnNow(r)
      condition.lock()
      r.result = result
      condition.broadcast()
      condition.unlock()
    }
  }

  private func spawnNow(_ r: Request) -> Result<pid_t, WorkerStartFailure> {
    var argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), strdup("sweep-worker"), nil]
    var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    let pid = fl_spawn_worker(executable, &argv, &envp, r.request, r.answer, r.output)
    guard pid > 0 else {
      return .failure(WorkerStartFailure("cannot start \(executable) sweep-worker: \(errnoText())"))
    }
    return .success(pid)
  }
}
