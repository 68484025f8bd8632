/// Turns a sweep failure into its repro plan: the plan with the failure's faults (shrunk when the
/// failure was judged; a crash or hang is kept as found), its bugs, and the seeded schedule it
/// failed under.
public enum SweepRepro {
  public struct Made: Sendable {
    public let plan: Plan
    /// Ops before and after shrinking and the runs it took (nil when not shrunk).
    public let shrunk: (before: Int, after: Int, runs: Int)?
    /// False when a deadline cut the shrinking short.
    public var finished = true
  }

  /// - Parameters:
  ///   - shrink: false keeps a judged failure's repro as found (runs no engine code at all).
  ///   - deadline: shrinking tries nothing after it (uptime nanoseconds; nil: no limit).
  ///   - progress: called after each shrinking run.
  public static func make(
    _ plan: Plan, _ f: FailureGroup, number: Int, bugs: [String], registry: EngineRegistry, shrink: Bool = true,
    deadline: UInt64? = nil, progress: () -> Void = {}
  )
    -> Made
  {
    let allBugs = Array(Set(plan.bugs + bugs)).sorted()
    // The schedule it failed under: a seeded random one, or the recorded choices of an explored one.
    let schedule =
      f.explored
      ? f.result.map { ScheduleSpec.replay($0.choices) } : f.scheduleSeed.map { ScheduleSpec.random(seed: $0) }
    var repro = plan
    var placements = f.placements
    var shrunk: (Int, Int, Int)?
    var finished = true
    if f.kind == .judged && shrink {
      let s = Shrinker(registry: registry).shrink(
        plan, placements: f.placements, bugs: allBugs, signature: f.signature, schedule: schedule, deadline: deadline,
        progress: progress)
      finished = s.finished
      repro = s.plan
      placements = s.placements
      shrunk = (plan.tasks.reduce(0) { $0 + $1.ops.count }, repro.tasks.reduce(0) { $0 + $1.ops.count }, s.runs)
    }
    repro.name = "\(plan.name)-repro-\(number)"
    repro.about = "Repro of a sweep failure of \(plan.name) (\(plan.file)): \(f.signature)"
    repro.faults = placements.map(\.spec)
    if let schedule { repro.schedule = schedule }
    repro.bugs = allBugs
    repro.expect = Expectations(invariants: plan.expect.invariants)
    repro.catches = []
    repro.sweep = nil
    var made = Made(plan: repro, shrunk: shrunk)
    made.finished = finished
    return made
  }
}
