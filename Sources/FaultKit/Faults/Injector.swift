/// What the injector tells an engine at a hit.
public enum FaultDecision: Hashable, Sendable {
  case pass
  case fail(FSError)
  case short(maxBytes: UInt64?)
  case restart
  case yield(to: String?)
  case crash

  public var fired: Bool { if case .pass = self { false } else { true } }
}

/// One pass through a fault point, as the trace records it.
public struct Hit: Hashable, Sendable, Codable {
  public let point: String
  /// 1-based, per point over the whole scenario.
  public let hit: Int
  public let task: String
  public let op: String
  /// `pass`, or the action that fired (`fail: ENOSPC`).
  public let decision: String
  /// The index of the plan fault that fired, if one did.
  public let fault: Int?

  public init(point: String, hit: Int, task: String, op: String, decision: String, fault: Int?) {
    self.point = point
    self.hit = hit
    self.task = task
    self.op = op
    self.decision = decision
    self.fault = fault
  }
}

/// Decides, hit by hit, which faults fire in one scenario. Deterministic: its only state is hit
/// counters and seeded generators. Not thread-safe: a scenario runs on one thread.
public final class Injector: @unchecked Sendable {
  public let catalog: FaultCatalog
  private struct Armed {
    let index: Int
    let spec: FaultSpec
    var matched = 0
    var firedOnce = false
    var rng: SplitMix64?
  }
  /// Armed faults by point index: a point nobody armed costs one array load and a count.
  private var armed: [[Armed]]
  private var hitCounts: [Int]
  /// Every hit so far, in order: the fault space of a fault-free run.
  public private(set) var hits: [Hit] = []
  /// The hits that fired.
  public private(set) var fired: [Hit] = []
  /// How many faults were placed (armed at construction): none in a fault-free run.
  public let placed: Int

  /// - Throws: `PlanError` if a fault names a point the catalog lacks (plans are checked at load,
  ///   so this only guards programmatic use).
  public init(catalog: FaultCatalog, faults: [FaultSpec]) {
    self.catalog = catalog
    armed = Array(repeating: [], count: catalog.points.count)
    hitCounts = Array(repeating: 0, count: catalog.points.count)
    placed = faults.count
    for (i, f) in faults.enumerated() {
      guard let p = catalog.index(of: f.point) else {
        preconditionFailure("fault point \(f.point) is not in the catalog; PlanLoader checks this")
      }
      var a = Armed(index: i, spec: f)
      if case .probability(_, let seed) = f.trigger { a.rng = SplitMix64(seed: seed) }
      armed[p].append(a)
    }
  }

  /// The faults armed at a point, in plan order.
  public func specs(at point: FaultPointID) -> [FaultSpec] { armed[point.index].map(\.spec) }

  /// The hit count of a point so far.
  public func count(_ point: FaultPointID) -> Int { hitCounts[point.index] }

  /// Registers a hit of `point` by `task` during `op` and decides what happens.
  public func hit(_ point: FaultPointID, task: String, op: String) -> FaultDecision {
    hitCounts[point.index] += 1
    let n = hitCounts[point.index]
    let name = catalog.points[point.index].name
    var decision = FaultDecision.pass
    var firedIndex: Int?
    if !armed[point.index].isEmpty {
      for k in armed[point.index].indices {
        let spec = armed[point.index][k].spec
        if let t = spec.task, t != task { continue }
        if let o = spec.op, o != op { continue }
        armed[point.index][k].matched += 1
        // Every counted hit draws (a probability fault's sequence must not depend on others),
        // but only the first fault that fires decides.
        let fire = fires(&armed[point.index][k])
        if firedIndex != nil { continue }
        if fire {
          armed[point.index][k].firedOnce = true
          firedIndex = armed[point.index][k].index
          decision = Self.decision(spec.action, HitRef(point: name, hit: n))
        }
      }
    }
    let label: String =
      switch decision {
      case .pass: "pass"
      case .fail(let e): "fail: \(e.errno.name)"
      case .short(let m): m.map { "short: \($0)" } ?? "short"
      case .restart: "restart"
      case .yield(let t): t.map { "yield: \($0)" } ?? "yield"
      case .crash: "crash"
      }
    let h = Hit(point: name, hit: n, task: task, op: op, decision: label, fault: firedIndex)
    hits.append(h)
    if firedIndex != nil { fired.append(h) }
    return decision
  }

  /// The engine did not carry out the decision of the last hit (a `short` at a point that can
  /// only fail): that hit did not fire. Returns the hit as now recorded, or nil when the last
  /// hit was not of `point` or did not fire.
  @discardableResult
  public func notHonoured(_ point: FaultPointID) -> Hit? {
    guard let last = hits.last, last.point == catalog.points[point.index].name, last.fault != nil else { return nil }
    let h = Hit(
      point: last.point, hit: last.hit, task: last.task, op: last.op, decision: "pass (\(last.decision) not honoured)",
      fault: nil)
    hits[hits.count - 1] = h
    if fired.last == last { fired.removeLast() }
    return h
  }

  private func fires(_ a: inout Armed) -> Bool {
    if a.spec.mode == .persistent && a.firedOnce { return true }
    let m = a.matched
    switch a.spec.trigger {
    case .nth(let n): return m == n
    case .every(let n): return n > 0 && m % n == 0
    case .after(let skip, let times):
      guard m > skip else { return false }
      return times.map { m - skip <= $0 } ?? true
    case .probability(let p, _):
      return a.rng!.nextUnit() < p
    }
  }

  private static func decision(_ action: FaultAction, _ ref: HitRef) -> FaultDecision {
    switch action {
    case .fail(let e): .fail(FSError(e, injected: ref))
    case .short(let m): .short(maxBytes: m)
    case .restart: .restart
    case .yield(let t): .yield(to: t)
    case .crash: .crash
    }
  }
}
