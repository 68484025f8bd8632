import FaultKit
import FaultReports
import Foundation

/// Where a sweep writes, held for the sweep alone: the directory it resumes, the one
/// `--report-dir` names, or a new `Reports/<run-id>/`. Another faultline using it is refused;
/// reports an earlier run left there are removed before the sweep starts (so a killed sweep never
/// sits beside an earlier run's complete results and green junit.xml); a resume refuses a
/// journal written by other plans, another build or other plugins.
struct SweepRunDirectory {
  let reports: ReportDirectory
  let lock: ReportDirectoryLock
  /// Made by this run (a new `Reports/<run-id>/`): removed again if the run ends before writing.
  let made: Bool

  /// Takes the directory.
  /// - Throws: `BadInput` for `--resume` of a directory without a sweep, or with a different
  ///   `--report-dir`; `ResultsError` when another process holds it or it cannot be made.
  static func open(resume: String?, reportDir: String?) throws -> SweepRunDirectory {
    if let resume {
      guard FileManager.default.fileExists(atPath: resume + "/meta.json") else {
        throw BadInput(description: "--resume \(resume): no meta.json of a sweep there")
      }
      if let reportDir, !sameDirectory(resume, reportDir) {
        throw BadInput(
          description:
            "--resume \(resume) --report-dir \(reportDir): a resumed sweep writes where it started; leave out --report-dir"
        )
      }
    }
    let made = resume == nil && reportDir == nil
    let reports =
      try resume.map { ReportDirectory(path: $0) } ?? reportDir.map { ReportDirectory(path: $0) }
      ?? ReportDirectory.fresh(under: "Reports", command: "sweep")
    return SweepRunDirectory(reports: reports, lock: try ReportDirectoryLock.take(reports), made: made)
  }

  /// Starts the run: a resume checks `meta` against the journal's, then both remove what an
  /// earlier run's reports left; a new sweep also drops any earlier journal and writes `meta`.
  /// - Throws: `BadInput` naming what changed when a resume's inputs differ.
  func begin(_ meta: SweepMeta, resuming: Bool) throws {
    let metaURL = reports.url.appendingPathComponent("meta.json")
    if resuming {
      guard let data = try? Data(contentsOf: metaURL), let old = try? JSONDecoder().decode(SweepMeta.self, from: data)
      else {
        throw BadInput(description: "--resume \(reports.path): its meta.json is not a sweep's")
      }
      let changed = meta.mismatches(old)
      guard changed.isEmpty else {
        throw BadInput(
          description: "--resume \(reports.path): not the sweep that was started there: "
            + changed.joined(separator: "; ") + ". Run it afresh (without --resume) or restore what changed.")
      }
      try reports.removeStale(journal: false)
    } else {
      try reports.removeStale(journal: true)
      try reports.write("meta.json", try JSONEncoder.sorted.encode(meta))
      if made { reports.markLatest() }
    }
  }

  /// Gives the directory up; one this run made and left empty goes too.
  func release() {
    lock.release()
    if made, let left = try? FileManager.default.contentsOfDirectory(atPath: reports.path), left.isEmpty {
      rmdir(reports.path)
    }
  }

  /// Whether two paths name one directory (by device and inode when both exist).
  static func sameDirectory(_ a: String, _ b: String) -> Bool {
    var sa = stat()
    var sb = stat()
    guard stat(a, &sa) == 0, stat(b, &sb) == 0 else {
      return URL(fileURLWithPath: a).standardizedFileURL == URL(fileURLWithPath: b).standardizedFileURL
    }
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
  }
}
