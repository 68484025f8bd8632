import Foundation

/// Where a run's wall time went, per plan (`timings.json`). Kept apart from results.json so the
/// results stay byte-identical run to run; nothing reads these back to decide anything.
public struct RunTimings: Sendable, Codable {
  public struct PlanTimes: Sendable, Codable {
    public let plan: String
    public let scenarios: Int
    /// Sum of the scenarios' own times (across workers, so more than the wall time with --jobs).
    public let seconds: Double
    public let medianMicros: Double
    public let maxMicros: Double
    /// The slowest scenario's key: the one to look at when scenarios time out.
    public let slowest: String?
  }
  /// Wall time of the whole run, start to reports.
  public let wallSeconds: Double
  public let jobs: Int
  public let plans: [PlanTimes]

  /// From the outcomes' own times (scenarios that crashed or timed out carry none).
  public init(wallSeconds: Double, jobs: Int, plans: [(name: String, file: String)], outcomes: [SweepOutcome]) {
    self.wallSeconds = wallSeconds
    self.jobs = jobs
    var byPlan: [String: [(nanos: UInt64, key: String)]] = [:]
    for o in outcomes { if let n = o.nanos { byPlan[o.scenario.plan, default: []].append((n, o.scenario.key)) } }
    self.plans = plans.map { p in
      let mine = (byPlan[p.file] ?? []).sorted { ($0.nanos, $0.key) < ($1.nanos, $1.key) }
      let micros = mine.map { Double($0.nanos) / 1e3 }
      return PlanTimes(
        plan: p.name, scenarios: mine.count, seconds: micros.reduce(0, +) / 1e6,
        medianMicros: micros.isEmpty ? 0 : micros[micros.count / 2], maxMicros: micros.last ?? 0,
        slowest: mine.last?.key)
    }
  }
}
