import Foundation

/// Makes a sweep failure's repro small: drops whole tasks, then single operations, then extra
/// faults and preemptions, keeping each removal only if the failure keeps its signature. Greedy
/// and bounded: one pass per kind, one run per candidate.
public struct Shrinker: Sendable {
  public let runner: ScenarioRunner
  public init(registry: EngineRegistry) { runner = ScenarioRunner(registry: registry) }

  public struct Shrunk: Sendable {
    public let plan: Plan
    public let placements: [Placement]
    /// Scenarios run to shrink it.
    public let runs: Int
    /// False when the deadline stopped it: smaller may be possible.
    public var finished = true
  }

  /// - Parameters:
  ///   - plan: the plan the failure came from (its own faults are ignored; `placements` are the faults).
  ///   - signature: what must still come out.
  ///   - schedule: the schedule the failure ran under (nil: the plan's own); shrinking keeps it.
  ///   - progress: called after each run (a worker process says it is alive with it).
  ///   - deadline: no candidate is tried after this (`DispatchTime` uptime nanoseconds): the
  ///     smallest plan found so far is the answer.
  public func shrink(
    _ plan: Plan, placements: [Placement], bugs: [String], signature: String, schedule: ScheduleSpec? = nil,
    deadline: UInt64? = nil, progress: () -> Void = {}
  ) -> Shrunk {
    var best = plan
    var faults = placements
    var runs = 0
    var late = false
    func keeps(_ p: Plan, _ f: [Placement]) -> Bool {
      if let deadline, late || DispatchTime.now().uptimeNanoseconds >= deadline {
        late = true
        return false
      }
      runs += 1
      defer { progress() }
      guard let r = try? runner.run(p, RunOptions(bugs: bugs, schedule: schedule, faults: f.map(\.spec))) else {
        return false
      }
      return Sweeper.keeps(r) && Sweeper.signature(r, f) == signature
    }
    // Whole tasks (a plan needs at least one), with preemptions that name them.
    var t = best.tasks.count - 1
    while t >= 0 && best.tasks.count > 1 {
      var candidate = best
      let name = candidate.tasks.remove(at: t).name
      candidate.preemptions.removeAll { $0.task == name || $0.action == .yield(to: name) }
      if keeps(candidate, faults) { best = candidate }
      t -= 1
    }
    // Single operations, last first (a later op is less likely to move the fault's hit number).
    for ti in best.tasks.indices.reversed() {
      var oi = best.tasks[ti].ops.count - 1
      while oi >= 0 {
        if best.tasks.map(\.ops.count).reduce(0, +) > 1 {
          var candidate = best
          candidate.tasks[ti].ops.remove(at: oi)
          if !candidate.tasks[ti].ops.isEmpty || candidate.tasks.count > 1 {
            if candidate.tasks[ti].ops.isEmpty { candidate.tasks.remove(at: ti) }
            if keeps(candidate, faults) {
              best = candidate
              if ti >= best.tasks.count { break }
            }
          }
        }
        oi -= 1
      }
    }
    // Extra faults, then preemptions.
    var fi = faults.count - 1
    while fi >= 0 && faults.count > 1 {
      var fewer = faults
      fewer.remove(at: fi)
      if keeps(best, fewer) { faults = fewer }
      fi -= 1
    }
    var pi = best.preemptions.count - 1
    while pi >= 0 {
      var candidate = best
      candidate.preemptions.remove(at: pi)
      if keeps(candidate, faults) { best = candidate }
      pi -= 1
    }
    var shrunk = Shrunk(plan: best, placements: faults, runs: runs)
    shrunk.finished = !late
    return shrunk
  }
}
