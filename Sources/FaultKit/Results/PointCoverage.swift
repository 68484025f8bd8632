/// One fault point's coverage in a plan (or summed over an engine's plans): is it declared, did
/// the fault-free run reach it, did a placed fault fire there, did a firing lead to a failure,
/// and which errnos it injected.
///
/// Checks: what the scenarios' fired lists and the fault-free run's hit counts say. Does not
/// check: that a reached point could fire every action it declares (a sweep filtered by
/// `--actions` or `--errnos` fires fewer), nor points an engine hits but forgot to declare (the
/// injector rejects those at the hit).
public struct PointCoverage: Sendable, Codable, Hashable {
  public let point: String
  public let kind: FaultPointKind
  /// Hits in the fault-free run (summed over plans for an engine).
  public var reached: Int
  /// Scenarios in which a fault fired at this point (yields included).
  public var fired: Int
  /// Failing scenarios in which a fault fired at this point.
  public var failed: Int
  /// The errnos `fail` injected here, sorted.
  public var errnos: [String]

  public init(
    point: String, kind: FaultPointKind, reached: Int = 0, fired: Int = 0, failed: Int = 0, errnos: [String] = []
  ) {
    self.point = point
    self.kind = kind
    self.reached = reached
    self.fired = fired
    self.failed = failed
    self.errnos = errnos
  }

  /// Coverage of `catalog`'s points by one plan's results: every declared point, in catalog order.
  public static func of(_ plan: PlanResults, catalog: [FaultPoint]) -> [PointCoverage] {
    var tally = Tally(catalog: catalog)
    for s in plan.scenarios { tally.add(s) }
    return tally.rows(reached: plan.reached)
  }

  /// Coverage counted one scenario at a time (a sweep's scenarios are never all in memory).
  public struct Tally: Sendable {
    private var rows: [PointCoverage]
    private var at: [String: Int] = [:]
    private var errnos: [Set<String>]

    public init(catalog: [FaultPoint]) {
      rows = catalog.map { PointCoverage(point: $0.name, kind: $0.kind) }
      for (i, p) in catalog.enumerated() { at[p.name] = i }
      errnos = Array(repeating: [], count: rows.count)
    }

    public mutating func add(_ s: ScenarioEntry) {
      var seen = Set<Int>()
      // A worker that crashed or timed out reported no hits: the faults placed are what is known
      // to have led there (`alloc.data#2 fail: ENOSPC` → alloc.data).
      if s.fired.isEmpty && (s.outcome == .crashed || s.outcome == .timedOut) {
        for f in s.faults { if let i = at[String(f.prefix { $0 != "#" })] { seen.insert(i) } }
      }
      for f in s.fired {
        guard let i = at[f.point] else { continue }
        seen.insert(i)
        if let e = f.errno { errnos[i].insert(e) }
      }
      for i in seen.sorted() {
        rows[i].fired += 1
        if s.outcome != .passed && s.outcome != .unjudged { rows[i].failed += 1 }
      }
    }

    /// The rows, with the fault-free run's hit counts.
    public func rows(reached: [PointHits]) -> [PointCoverage] {
      var out = rows
      for r in reached { if let i = at[r.point] { out[i].reached += r.hits } }
      for i in out.indices { out[i].errnos = errnos[i].sorted() }
      return out
    }
  }

  /// Rows summed point by point (an engine's coverage over its plans); `rows` share one catalog order.
  public static func sum(_ tables: [[PointCoverage]]) -> [PointCoverage] {
    guard var out = tables.first else { return [] }
    for t in tables.dropFirst() {
      for (i, r) in t.enumerated() where i < out.count && out[i].point == r.point {
        out[i].reached += r.reached
        out[i].fired += r.fired
        out[i].failed += r.failed
        out[i].errnos = Array(Set(out[i].errnos + r.errnos)).sorted()
      }
    }
    return out
  }
}
