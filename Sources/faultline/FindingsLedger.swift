import FaultKit
import FaultReports
import Foundation

/// What a nightly found and has not seen fixed (`report --findings FILE`), carried from night to
/// night: each finding with the scenarios that showed it. A nightly that sweeps part of the
/// space each night (`sweep --rotation`) compares with this rather than with last night alone,
/// which saw another part: a finding last seen three nights ago is still open, not new when it
/// shows again, and fixed only when one of its scenarios runs and passes.
///
/// Applying the same run twice gives the same comparison: the ledger keeps what was open before
/// the last run it took in, and that run's digest.
struct FindingsLedger: Codable {
  static let currentSchema = "faultline-findings/1"
  struct Finding: Codable {
    let plan: String
    let signature: String
    /// Keys of scenarios that showed it (results.json's `scenarios[].key`), this run's first.
    let scenarios: [String]
  }
  var schema = currentSchema
  /// FNV-1a of the results last applied (their encoded bytes).
  var run: String?
  /// Open before that run, and after it.
  var before: [Finding] = []
  var open: [Finding] = []

  /// The ledger at `path`; an empty one when there is no file yet (the first night).
  /// - Throws: `BadInput` when the file is there but is not a ledger.
  static func read(_ path: String) throws -> FindingsLedger {
    guard FileManager.default.fileExists(atPath: path) else { return FindingsLedger() }
    guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else {
      throw BadInput(description: "--findings \(path): cannot read it")
    }
    struct Head: Decodable { let schema: String? }
    guard let head = try? JSONDecoder().decode(Head.self, from: data), head.schema == currentSchema,
      let ledger = try? JSONDecoder().decode(FindingsLedger.self, from: data)
    else {
      throw BadInput(description: "--findings \(path): not a findings ledger (\(currentSchema))")
    }
    return ledger
  }

  static func digest(_ results: RunResults) throws -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in try results.encoded() { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }

  /// What was open before `now`: `open`, or `before` when `now` is the run last applied.
  func earlier(than now: RunResults) throws -> [RunComparison.Key: [String]] {
    let list = try run == Self.digest(now) ? before : open
    var out: [RunComparison.Key: [String]] = [:]
    for f in list { out[RunComparison.Key(plan: f.plan, signature: f.signature)] = f.scenarios }
    return out
  }

  /// The ledger after `now`, compared as `c`.
  func applying(_ now: RunResults, comparison c: RunComparison) throws -> FindingsLedger {
    let earlier = try earlier(than: now)
    let carried = RunComparison.carried(now: now, earlier: earlier, comparison: c)
    func list(_ m: [RunComparison.Key: [String]]) -> [Finding] {
      m.keys.sorted().map { Finding(plan: $0.plan, signature: $0.signature, scenarios: m[$0]!) }
    }
    return FindingsLedger(run: try Self.digest(now), before: list(earlier), open: list(carried))
  }

  /// Written to a temporary file and renamed: never half-written.
  func write(_ path: String) throws {
    try JSONStateFile.write(self, to: path, option: "--findings")
  }
}
