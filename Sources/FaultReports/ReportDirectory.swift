import FaultKit
import Foundation

/// A run's report directory: results.json, junit.xml, report.html and whatever else the run puts
/// there. Every file goes through a temporary file and a rename, so a crash or a full disk never
/// leaves half a report where a whole one was.
public struct ReportDirectory: Sendable {
  public let url: URL
  /// The directory as the user named it (relative stays relative, for printing).
  public let path: String
  public init(_ url: URL) {
    self.url = url
    path = url.path
  }
  public init(path: String) {
    self.path = path
    url = URL(fileURLWithPath: path)
  }

  /// `root/<UTC yyyymmdd-hhmmss>-<command>`, with `-2`, `-3` … when that exists already. The
  /// clock names the directory only; nothing in it depends on the time.
  public static func fresh(under root: String, command: String) -> ReportDirectory {
    var t = time(nil)
    var tm = tm()
    gmtime_r(&t, &tm)
    let stamp = String(
      format: "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
      tm.tm_sec)
    let base = "\(root)/\(stamp)-\(command)"
    var path = base
    for n in 2...1000 where FileManager.default.fileExists(atPath: path) { path = "\(base)-\(n)" }
    return ReportDirectory(path: path)
  }

  /// Writes `name` (a path under the directory) whole or not at all.
  public func write(_ name: String, _ data: Data) throws {
    let target = url.appendingPathComponent(name)
    let parent = target.deletingLastPathComponent()
    do {
      try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    } catch {
      throw ResultsError(message: "\(parent.path): cannot create the directory (\(error.localizedDescription))")
    }
    let tmp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
    guard FileManager.default.createFile(atPath: tmp.path, contents: data) else {
      throw ResultsError(message: "\(tmp.path): cannot write")
    }
    guard rename(tmp.path, target.path) == 0 else {
      let e = errno
      try? FileManager.default.removeItem(at: tmp)
      throw ResultsError(message: "\(target.path): cannot write (\(String(cString: strerror(e))))")
    }
  }

  /// Writes results.json and the reports made from it.
  public func writeReports(
    _ results: RunResults, comparison: RunComparison? = nil, json: Bool = true, junit: Bool = true, html: Bool = true
  ) throws {
    if json { try write("results.json", try results.encoded()) }
    if junit { try write("junit.xml", Data(JUnitReport.render(results).utf8)) }
    if html { try write("report.html", Data(HTMLReport.render(results, comparison: comparison).utf8)) }
  }

  /// Points `root/latest` at this directory (a relative symlink, replaced by rename).
  public func markLatest() {
    let parent = url.deletingLastPathComponent()
    let link = parent.appendingPathComponent("latest")
    let tmp = parent.appendingPathComponent(".latest.tmp-\(getpid())")
    try? FileManager.default.removeItem(at: tmp)
    guard symlink(url.lastPathComponent, tmp.path) == 0 else { return }
    if rename(tmp.path, link.path) != 0 { try? FileManager.default.removeItem(at: tmp) }
  }
}
