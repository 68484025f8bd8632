import FaultKit
import Foundation

/// JSON output: results with sorted keys and no timings, so the same plan and seed give the same
/// bytes.
public enum JSONReport {
  public static func encode(_ results: [ScenarioResult]) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try enc.encode(results)
  }

}
