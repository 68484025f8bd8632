/// What an engine reaches the harness through: fault points, schedule points, blocking and waking.
/// One per scenario; `@unchecked Sendable` because everything in a scenario runs on one thread.
public final class Harness: @unchecked Sendable {
  public let scheduler: Scheduler
  public let injector: Injector
  public let trace: Trace
  /// Off during setup and the data oracle: hits pass without being counted.
  public var injecting = false
  /// Called when the engine records a writeback error on a file's mapping (`writebackError`):
  /// the runner's errseq oracle listens.
  public var onWritebackError: ((_ file: String, _ error: FSError) -> Void)?

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
  /// decided and traced as `hit`, but not a schedule point; a `yield` passes.
  public func hitNow(_ point: FaultPointID) -> FaultDecision {
    guard injecting else { return .pass }
    let d = decide(point)
    if case .yield = d { return .pass }
    return d
  }

  /// Counts the hit, asks the injector, and records the hit in the trace.
  @inline(__always)
  private func decide(_ point: FaultPointID) -> FaultDecision {
    let d = injector.hit(point, task: scheduler.currentName, op: scheduler.currentOp)
    let h = injector.hits[injector.hits.count - 1]
    trace.append(.hit(h))
    return d
  }

  /// A pass through a point that can only fail (or yield): throws the injected error. Any other
  /// decision is not carried out, and is recorded so (`notHonoured`).
  public func check(_ point: FaultPointID) async throws {
    switch try await hit(point) {
    case .fail(let e): throw e
    case .short, .restart, .crash: notHonoured(point)
    case .pass, .yield: break
    }
  }

  /// The engine did not carry out the last hit's decision at `point`: that hit counts as not
  /// fired (a placement that did nothing was not tested), and the trace says so.
  public func notHonoured(_ point: FaultPointID) {
    guard let h = injector.notHonoured(point) else { return }
    trace.append(.note("\(h.task): \(h.point)#\(h.hit): \(h.decision): counted as not fired"))
  }

  // MARK: Engines whose code runs elsewhere

  /// The plan's faults at `point`, for an engine that arms them on the far side (a disk shim, a
  /// kernel): what it must make fire there, as the injector would decide them here.
  public func farFaults(_ point: FaultPointID) -> [FaultSpec] { injector.specs(at: point) }

  /// Hits of `point` counted on the far side: its count there is now `total`. Each new hit is
  /// counted, decided and traced here as `hit` would (the far side was armed
  /// from `farFaults` to decide the same), attributed to `task` and `op` (default: the running
  /// task). Returns the new hits whose decision fired, so the engine can check the far side
  /// fired exactly those. Nothing is counted while not injecting.
  @discardableResult
  public func farHits(_ point: FaultPointID, total: Int, task: String? = nil, op: String? = nil) -> [Hit] {
    guard injecting else { return [] }
    var fired: [Hit] = []
    let seen = injector.count(point)
    // Bounded by the far side's count.
    for _ in seen..<max(seen, total) {
      let d = injector.hit(point, task: task ?? scheduler.currentName, op: op ?? scheduler.currentOp)
      let h = injector.hits[injector.hits.count - 1]
      trace.append(.hit(h))
      if d.fired { fired.append(h) }
    }
    return fired
  }

  /// What the engine could not judge (its far side disagreed, a state it could not read): the
  /// scenario is unjudged for it.
  public func unjudged(_ u: Unjudged) { reportedUnjudged.append(u) }
  public private(set) var reportedUnjudged: [Unjudged] = []

  /// The most recent hit (what a `short` decision came from, for an error that reports it).
  public var lastHit: HitRef? {
    injector.hits.last.map { HitRef(point: $0.point, hit: $0.hit) }
  }

  /// The engine recorded a writeback error on `file`'s mapping (mapping_set_error): every task
  /// (file description) that has not seen it must get it from its next fsync.
  public func writebackError(file: String, _ error: FSError) { onWritebackError?(file, error) }

  /// The running task as a lock holder.
  public var holder: Holder { scheduler.holder }
}
