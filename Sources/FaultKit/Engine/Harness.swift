/// What an engine reaches the harness through: fault points, schedule points, blocking and waking.
/// One per scenario; `@unchecked Sendable` because everything in a scenario runs on one thread.
public final class Harness: @unchecked Sendable {
  public let scheduler: Scheduler
  public let injector: Injector
  public let trace: Trace
  /// Off during setup and the data oracle: hits pass without being counted.
  public var injecting = false
  /// Called at every counted hit, before its decision takes effect (for tools and tests that read
  /// the state there; the runner sets none).
  public var probe: ((Hit) -> Void)?

  public init(scheduler: Scheduler, injector: Injector) {
    self.scheduler = scheduler
    self.injector = injector
    self.trace = scheduler.trace
  }

  /// A pass through fault point `point`: counts the hit, asks the injector, records it, and is a
  /// schedule point. A `yield` decision is carried out here and returns `.pass`.
  /// - Throws: `ScenarioAbort` when the scenario is torn down.
  public func hit(_ point: FaultPointID) async throws -> FaultDecision {
    guard injecting else {
      try await scheduler.point("fault \(injector.catalog[point].name)")
      return .pass
    }
    let d = decide(point)
    if case .yield(let to) = d {
      try await scheduler.yield(to: to, at: "fault \(injector.catalog[point].name)")
      return .pass
    }
    try await scheduler.point("fault \(injector.catalog[point].name)")
    return d
  }

  /// A hit from code that cannot wait (a C engine's operation is one scheduler step): counted,
  /// decided, traced and probed as `hit`, but not a schedule point; a `yield` passes.
  public func hitNow(_ point: FaultPointID) -> FaultDecision {
    guard injecting else { return .pass }
    let d = decide(point)
    if case .yield = d { return .pass }
    return d
  }

  /// Counts the hit, asks the injector, records the hit in the trace and shows it to the probe.
  @inline(__always)
  private func decide(_ point: FaultPointID) -> FaultDecision {
    let d = injector.hit(point, task: scheduler.currentName, op: scheduler.currentOp)
    let h = injector.hits[injector.hits.count - 1]
    trace.append(.hit(h))
    probe?(h)
    return d
  }

  /// A pass through a point that can only fail (or yield): throws the injected error.
  public func check(_ point: FaultPointID) async throws {
    if case .fail(let e) = try await hit(point) { throw e }
  }

  /// The most recent hit (what a `short` decision came from, for an error that reports it).
  public var lastHit: HitRef? {
    injector.hits.last.map { HitRef(point: $0.point, hit: $0.hit) }
  }

  /// The running task as a lock holder.
  public var holder: Holder { scheduler.holder }
}
