import CFaultlineSupport
import FaultKit
import Foundation

/// Spawns worker processes (posix_spawn of this binary, `sweep-worker`), all from `SpawnThread`,
/// which lives as long as the process. A worker asks the kernel to kill it when its parent dies
/// (PR_SET_PDEATHSIG), and the kernel means the *thread* that spawned it: spawned from a job
/// thread that ends, a worker would be killed in the middle of the sweep.
///
/// Workers stay in the sweep's process group (kill -9 of the group, or Ctrl-C at a terminal,
/// reaches them too), get `SWIFT_BACKTRACE=enable=no` unless the user set it (a crash ends the
/// worker at once instead of after a symbolicating backtracer), and `FAULTLINE_WORKER_PARENT`,
/// which they compare with getppid() once their death signal is set (a parent that died before
/// then would otherwise leave them running).
final class WorkerSpawner: Sendable {
  static let shared = WorkerSpawner()

  private let executable: String
  private let environment: [String]

  private init() {
    executable =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var env = ProcessInfo.processInfo.environment
    env["FAULTLINE_WORKER_PARENT"] = String(getpid())
    if env["SWIFT_BACKTRACE"] == nil { env["SWIFT_BACKTRACE"] = "enable=no" }
    environment = env.map { "\($0.key)=\($0.value)" }.sorted()
  }

  /// Spawns a worker with `request` as its descriptor 3, `answer` as its descriptor 4 and
  /// `output` as its standard output and error, from the process's spawn thread.
  func spawn(request: Int32, answer: Int32, output: Int32) -> Result<pid_t, WorkerStartFailure> {
    let (executable, environment) = (executable, environment)
    return SpawnThread.shared.run {
      var argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), strdup("sweep-worker"), nil]
      var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
      defer {
        for p in argv { free(p) }
        for p in envp { free(p) }
      }
      let pid = fl_spawn_worker(executable, &argv, &envp, request, answer, output)
      guard pid > 0 else {
        return .failure(WorkerStartFailure("cannot start \(executable) sweep-worker: \(errnoText())"))
      }
      return .success(pid)
    }
  }
}
