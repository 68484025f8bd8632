import FaultKit
import Foundation

/// A state file a command keeps between runs (the rotation, the findings ledger): JSON with sorted
/// keys and a final newline, its folder made, written to a temporary file and renamed, so it is
/// never half-written.
enum JSONStateFile {
  /// - Parameter option: the option that named the file, for the error (`--rotation`).
  /// - Throws: `ResultsError` saying the option, the path and the reason.
  static func write<T: Encodable>(_ value: T, to path: String, option: String) throws {
    let url = URL(fileURLWithPath: path)
    do {
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      var data = try JSONEncoder.sorted.encode(value)
      data.append(0x0A)
      try data.write(to: url, options: .atomic)
    } catch {
      throw ResultsError(message: "\(option) \(path): cannot write it (\(IOFailure.reason(error)))")
    }
  }
}
