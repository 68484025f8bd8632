import FaultKit
import Foundation

/// What a worker process is asked to do: one JSON line on its descriptor 3. Every call into an
/// engine a sweep makes is one of these, so a crash or a hang anywhere costs one request.
struct WorkerRequest: Codable {
  enum Kind: String, Codable {
    /// Run one sweep scenario; the answer is its `SweepOutcome`.
    case scenario
    /// Run a plan without faults and record its fault space; the answer is a `Recording`.
    case record
    /// Shrink a failure into its repro plan; the answer is a `ShrinkAnswer`, after a `+` line per
    /// shrinking run (each starts the timeout again).
    case shrink
    /// Run a failure's first scenario again for its snapshots; the answer is a `SnapshotsAnswer`.
    case snapshots
    /// Run a plan as written (`faultline replay`); the answer is its `ScenarioResult`.
    case replay

    /// What `FAULTLINE_PHASE` says while the worker runs it (test engines read it).
    var phase: String { rawValue }
  }

  var kind: Kind
  var scenario: SweepScenario?
  /// The plan's file (every kind but scenario).
  var plan: String?
  var config: SweepConfig?
  var bugs: [String]?
  var failure: FailureGroup?
  /// The repro's number (`shrink`).
  var number: Int?
  /// Shrinking tries nothing after this (`DispatchTime` uptime nanoseconds, the same clock in
  /// every process of the machine): the sweep's `--budget`.
  var deadline: UInt64?

  static func scenario(_ sc: SweepScenario) -> WorkerRequest { WorkerRequest(kind: .scenario, scenario: sc) }

  func encoded() throws -> Data { try JSONEncoder.sorted.encode(self) }
}

/// A repro plan as a worker made it.
struct ShrinkAnswer: Codable {
  /// The repro plan's YAML and its name.
  let yaml: String
  let name: String
  /// Ops before and after, and runs it took; nil when it was not shrunk.
  let shrunk: [Int]?
  /// False when the deadline stopped shrinking before it was done.
  let finished: Bool
}

/// A failure's snapshots as a worker read them again (both nil: the re-run differed).
struct SnapshotsAnswer: Codable {
  let baseline: Snapshot?
  let atRest: Snapshot?
}

/// A worker said the request is bad input (a plan that no longer loads, an engine whose setup
/// fails): an answer line that starts with `!`.
struct WorkerReportedError: Error, CustomStringConvertible {
  let description: String

  static let mark = UInt8(ascii: "!")

  /// `data` as an answer, or the error it reports.
  static func check(_ data: Data) throws -> Data {
    if data.first == mark { throw WorkerReportedError(description: String(decoding: data.dropFirst(), as: UTF8.self)) }
    return data
  }
}
