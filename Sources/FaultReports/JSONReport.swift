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

  /// `encode`, one result at a time: the same bytes, handed to `out` as each result comes, so a
  /// run of thousands of plans never holds their results.
  public final class Streamer {
    private let encoder = JSONEncoder()
    private let out: (Data) -> Void
    private var count = 0

    public init(_ out: @escaping (Data) -> Void) {
      self.out = out
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    }

    public func add(_ r: ScenarioResult) throws {
      // An element of a pretty-printed array: each line indented one level, empty lines (inside
      // an empty array) left empty. Newlines inside strings are escaped: every one is the printer's.
      var piece = Data(count == 0 ? "[\n  ".utf8 : ",\n  ".utf8)
      let one = [UInt8](try encoder.encode(r))
      piece.reserveCapacity(one.count + one.count / 8)
      for (i, b) in one.enumerated() {
        piece.append(b)
        if b == 0x0A && (i + 1 == one.count || one[i + 1] != 0x0A) { piece.append(contentsOf: [0x20, 0x20]) }
      }
      out(piece)
      count += 1
    }

    /// Ends the array.
    public func finish() { out(Data(count == 0 ? "[\n\n]".utf8 : "\n]".utf8)) }
  }

}
