import FaultKit
import Foundation

extension ReportDirectory {
  /// Writes `name` whole or not at all, from the pieces `body` hands out (a file larger than
  /// memory is never held): a temporary file, renamed when done, removed when not.
  public func write(_ name: String, streaming body: ((Data) throws -> Void) throws -> Void) throws {
    let target = url.appendingPathComponent(name)
    let parent = target.deletingLastPathComponent()
    do {
      try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    } catch {
      throw ResultsError(message: "\(parent.path): cannot create the directory (\(error.localizedDescription))")
    }
    let tmp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
    let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw ResultsError(message: "\(target.path): cannot write (\(String(cString: strerror(errno))))")
    }
    var pending = Data()
    func flush() throws {
      var at = pending.startIndex
      while at < pending.endIndex {
        let n = pending[at...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
          throw ResultsError(message: "\(target.path): cannot write (\(String(cString: strerror(errno))))")
        }
        at += n
      }
      pending.removeAll(keepingCapacity: true)
    }
    do {
      try body { piece in
        pending.append(piece)
        if pending.count >= 1 << 20 { try flush() }
      }
      try flush()
    } catch {
      close(fd)
      unlink(tmp.path)
      throw error
    }
    guard close(fd) == 0 else {
      let e = errno
      unlink(tmp.path)
      throw ResultsError(message: "\(target.path): cannot write (\(String(cString: strerror(e))))")
    }
    guard rename(tmp.path, target.path) == 0 else {
      let e = errno
      unlink(tmp.path)
      throw ResultsError(message: "\(target.path): cannot write (\(String(cString: strerror(e))))")
    }
  }

  /// results.json, its scenarios streamed from `lines`, then junit.xml and report.html (which
  /// read counts, not scenarios).
  public func writeReports(_ results: RunResults, lines: ScenarioLines, comparison: RunComparison? = nil) throws {
    try write("results.json") { out in try results.write(lines: lines, to: out) }
    try writeReports(results, comparison: comparison, json: false)
  }
}
