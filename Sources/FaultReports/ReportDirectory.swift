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

  /// A new directory `root/<UTC yyyymmdd-hhmmss>-<command>`, with `-2`, `-3` … when that is
  /// taken: made here with mkdir(2), which only one process can do for a name, so two runs started
  /// in the same second never share one. The clock names the directory only; nothing in it
  /// depends on the time.
  /// - Throws: `ResultsError` "ROOT: reason" when `root` cannot be made or holds 1000 of the name.
  public static func fresh(under root: String, command: String) throws -> ReportDirectory {
    var t = time(nil)
    var tm = tm()
    gmtime_r(&t, &tm)
    let stamp = String(
      format: "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
      tm.tm_sec)
    try IOFailure.makeDirectory(root)
    let base = "\(root)/\(stamp)-\(command)"
    for n in 1...1000 {
      let path = n == 1 ? base : "\(base)-\(n)"
      if mkdir(path, 0o755) == 0 { return ReportDirectory(path: path) }
      guard errno == EEXIST else { throw ResultsError(message: "\(path): \(IOFailure.text(errno))") }
    }
    throw ResultsError(message: "\(base): 1000 runs of this second already; remove some of \(root)")
  }

  /// Writes `name` (a path under the directory) whole or not at all.
  /// - Throws: `ResultsError` "PATH: reason", naming the file (never a temporary one).
  public func write(_ name: String, _ data: Data) throws {
    let target = url.appendingPathComponent(name)
    let parent = target.deletingLastPathComponent()
    try IOFailure.makeDirectory(parent.path)
    try IOFailure.replace(target.path, with: data)
  }

  /// The files a run writes here. A run removes them before it starts, so a run that is killed
  /// or fails never leaves an earlier run's results (or a green junit.xml) beside its own journal.
  public static let reportFiles = ["results.json", "junit.xml", "report.html", "timings.json", "repro"]
  /// A sweep's journal, which a resume continues and a new sweep starts afresh.
  public static let journalFiles = ["journal.jsonl", "meta.json"]

  /// Removes the reports of an earlier run (with `journal`, its journal too) and temporary files
  /// a killed write left. Call holding the directory's lock.
  /// - Throws: `ResultsError` "PATH: reason" for one that cannot be removed.
  public func removeStale(journal: Bool) throws {
    let fm = FileManager.default
    let names = Self.reportFiles + (journal ? Self.journalFiles : [])
    var leftovers: [String] = []
    for folder in [url, url.appendingPathComponent("repro")] {
      for n in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where n.hasPrefix(".") && n.contains(".tmp-") {
        leftovers.append(folder.appendingPathComponent(n).path)
      }
    }
    for path in names.map({ url.appendingPathComponent($0).path }) + leftovers {
      guard fm.fileExists(atPath: path) else { continue }
      do { try fm.removeItem(atPath: path) } catch {
        throw ResultsError(message: "\(path): cannot remove the earlier run's file (\(IOFailure.reason(error)))")
      }
    }
  }

  /// Writes results.json and the reports made from it. Their reproduce commands name the repro
  /// files in `repros` (default: this directory), by absolute path.
  public func writeReports(
    _ results: RunResults, comparison: RunComparison? = nil, json: Bool = true, junit: Bool = true, html: Bool = true,
    repros: String? = nil
  ) throws {
    let command = ReproCommand(results, directory: repros ?? url.path)
    if json { try write("results.json", try results.encoded()) }
    if junit { try write("junit.xml", Data(JUnitReport.render(results, command: command).utf8)) }
    if html {
      try write("report.html", Data(HTMLReport.render(results, comparison: comparison, command: command).utf8))
    }
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
