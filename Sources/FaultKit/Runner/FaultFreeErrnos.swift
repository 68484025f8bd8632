import Synchronization

/// The errnos a plan's operations return in its run without faults, per plan, bugs and
/// schedule, remembered for the process: `op-errors-explained` needs them whenever an operation
/// fails with no fault before it, and a sweep meets that in scenario after scenario of one plan
/// (each used to run the plan once more without faults). Bounded: the memory is dropped whole
/// when it holds `capacity` entries.
final class FaultFreeErrnos: Sendable {
  static let shared = FaultFreeErrnos()
  static let capacity = 256

  private struct Key: Hashable {
    let plan: Plan
    let bugs: [String]
    let seed: UInt64?
    let schedule: ScheduleSpec?
    let prefix: [Int]?
  }

  private let known = Mutex<[Key: Set<Errno>]>([:])

  /// The errnos of `plan`'s run without faults under `options`, made by `run` when not known.
  func errnos(_ plan: Plan, _ options: RunOptions, run: () throws -> Set<Errno>) throws -> Set<Errno> {
    var faultless = plan
    faultless.faults = []
    let key = Key(
      plan: faultless, bugs: options.bugs.sorted(), seed: options.seed, schedule: options.schedule,
      prefix: options.prefix)
    if let e = known.withLock({ $0[key] }) { return e }
    let e = try run()
    known.withLock {
      if $0.count >= Self.capacity { $0.removeAll() }
      $0[key] = e
    }
    return e
  }
}
