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
    var tallies: [String: Tally] = [:]
    for o in outcomes { if let n = o.nanos { tallies[o.scenario.plan, default: Tally()].add(n, key: o.scenario.key) } }
    self.init(
      wallSeconds: wallSeconds, jobs: jobs, plans: plans.map { (tallies[$0.file] ?? Tally()).planTimes($0.name) })
  }

  public init(wallSeconds: Double, jobs: Int, plans: [PlanTimes]) {
    self.wallSeconds = wallSeconds
    self.jobs = jobs
    self.plans = plans
  }

  /// One plan's scenario times, counted one at a time in bounded memory: the median comes from
  /// a histogram of buckets 1% wide (so it is within 1% of the exact one).
  public struct Tally: Sendable {
    private var count = 0
    private var sum: UInt64 = 0
    private var max: UInt64 = 0
    private var slowest: String?
    private var buckets: [Int: Int] = [:]

    public init() {}

    private static let step = log(1.01)

    public mutating func add(_ nanos: UInt64, key: String) {
      count += 1
      sum &+= nanos
      if slowest == nil || nanos > max || (nanos == max && key > slowest!) {
        max = nanos
        slowest = key
      }
      buckets[Int(log(Double(Swift.max(nanos, 1))) / Self.step), default: 0] += 1
    }

    public func planTimes(_ plan: String) -> PlanTimes {
      var median = 0.0
      var seen = 0
      for b in buckets.keys.sorted() {
        seen += buckets[b]!
        if seen > count / 2 {
          median = exp((Double(b) + 0.5) * Self.step) / 1e3
          break
        }
      }
      return PlanTimes(
        plan: plan, scenarios: count, seconds: Double(sum) / 1e9, medianMicros: median, maxMicros: Double(max) / 1e3,
        slowest: slowest)
    }
  }
}
