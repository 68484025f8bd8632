import Foundation

/// The execution counts `llvm-cov export -format=text` gives for source files: per file its
/// coverage segments (line, column, count, has-count, region-entry, gap), from which the count at
/// any position is read as llvm-cov reads it: the count of the last segment starting at or before it.
///
/// Checks: files and segments as llvm-cov 21 writes them (`data[0].files[].segments`). Does not
/// check: expansions (macro bodies in C) or branch counts; a site's own token is what is counted.
public struct CoverageSegments: Sendable {
  public struct Segment: Sendable, Equatable {
    public let line: Int
    public let column: Int
    public let count: UInt64
    public let hasCount: Bool
  }

  /// Absolute file path → its segments, in order.
  public let files: [String: [Segment]]

  public init(files: [String: [Segment]]) { self.files = files }

  /// Reads llvm-cov's JSON export.
  /// - Throws: `ResultsError` when it is not one.
  public init(export data: Data) throws {
    guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let exports = root["data"] as? [[String: Any]]
    else { throw ResultsError(message: "llvm-cov export: not a JSON export (no data list)") }
    var files: [String: [Segment]] = [:]
    for export in exports {
      for f in export["files"] as? [[String: Any]] ?? [] {
        guard let name = f["filename"] as? String, let rows = f["segments"] as? [[Any]] else {
          throw ResultsError(message: "llvm-cov export: a file without a name or segments")
        }
        var segments: [Segment] = []
        segments.reserveCapacity(rows.count)
        for row in rows {
          guard row.count >= 4, let line = (row[0] as? NSNumber)?.intValue,
            let column = (row[1] as? NSNumber)?.intValue, let count = (row[2] as? NSNumber)?.uint64Value,
            let has = (row[3] as? NSNumber)?.boolValue
          else { throw ResultsError(message: "llvm-cov export: \(name): a segment that is not [line, col, count, …]") }
          segments.append(Segment(line: line, column: column, count: count, hasCount: has))
        }
        segments.sort { ($0.line, $0.column) < ($1.line, $1.column) }
        files[name] = (files[name] ?? []) + segments
      }
    }
    self.files = files
  }

  /// The execution count at `line`:`column` of `file`; nil where no instrumented code is (no
  /// segment before it, or one without a count).
  public func count(file: String, line: Int, column: Int) -> UInt64? {
    guard let segments = files[file], !segments.isEmpty else { return nil }
    // The last segment at or before the position (binary search).
    var lo = 0
    var hi = segments.count
    while lo < hi {
      let mid = (lo + hi) / 2
      let s = segments[mid]
      if (s.line, s.column) <= (line, column) { lo = mid + 1 } else { hi = mid }
    }
    guard lo > 0 else { return nil }
    let s = segments[lo - 1]
    return s.hasCount ? s.count : nil
  }
}
