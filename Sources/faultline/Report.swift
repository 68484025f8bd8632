import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

/// `faultline report RESULTS… [--html] [--junit] [--merge] [--compare PREV] [--known FILE]`:
/// regenerates reports from results.json (never from engines), joins shards, and compares a run
/// with an earlier one.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Regenerate JUnit and HTML reports from results.json, merge shards, compare with an earlier run.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "results.json files, or run directories holding one.")
  var results: [String]

  @Flag(help: "Write report.html (with neither --html nor --junit: both).")
  var html = false

  @Flag(help: "Write junit.xml (with neither --html nor --junit: both).")
  var junit = false

  @Flag(help: "Join several runs (shards, or a run and its resume) into one, with repro plans.")
  var merge = false

  @Option(help: "Where to write (default: beside the results; with --merge, a new Reports/<run-id>/).")
  var reportDir: String?

  @Option(help: "An earlier run (directory or results.json): name what is new, fixed and still failing.")
  var compare: String?

  @Option(help: "A known-failures file (plan + signature each) whose entries are expected, not new.")
  var known: String?

  @Option(
    help:
      "A nightly's findings ledger (JSON; made if missing): compare with every finding still open from earlier nights, then record this run in it."
  )
  var findings: String?

  static func url(_ path: String) -> URL {
    var isDir: ObjCBool = false
    let u = URL(fileURLWithPath: path)
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
      return u.appendingPathComponent("results.json")
    }
    return u
  }

  /// The run directory `path` names (a results.json's folder, or the folder itself).
  static func directory(_ path: String) -> String { url(path).deletingLastPathComponent().path }

  static func read(_ path: String) throws -> RunResults {
    do { return try RunResults.read(url(path)) } catch let e as ResultsError {
      throw BadInput(description: e.description)
    }
  }

  func run() throws {
    try plugins.activate()
    guard !results.isEmpty else { throw BadInput(description: "report: give results.json files or run directories") }
    guard merge || results.count == 1 else {
      throw BadInput(description: "report: \(results.count) results given; joining them needs --merge")
    }
    let runs = try results.map(Self.read)
    let before = try compare.map(Self.read)
    let expected = try known.map(KnownFailures.read)
    let ledger = try findings.map(FindingsLedger.read)
    /// The comparison, checked before anything is written; the ledger is written after the reports.
    func comparing(_ now: RunResults) throws -> RunComparison? {
      guard before != nil || expected != nil || ledger != nil else { return nil }
      for w in try expected?.check(against: now) ?? [] { FileHandle.standardError.write(Data((w + "\n").utf8)) }
      var earlier = before.map { RunComparison.evidence($0) } ?? [:]
      for (k, keys) in try ledger?.earlier(than: now) ?? [:] {
        earlier[k] = (earlier[k] ?? []) + keys.filter { !(earlier[k] ?? []).contains($0) }
      }
      return RunComparison(now: now, earlier: earlier, known: expected?.keys ?? [:])
    }
    func record(_ now: RunResults, _ c: RunComparison?) throws {
      guard let findings, let ledger, let c else { return }
      try ledger.applying(now, comparison: c).write(findings)
    }
    if merge {
      let merged: RunResults
      do { merged = try RunResults.merge(runs) } catch let e as ResultsError {
        throw BadInput(description: "report --merge: \(e.description)")
      }
      try Self.checkInputs(results)
      let comparison = try comparing(merged)
      if let reportDir,
        let input = results.first(where: { SweepRunDirectory.sameDirectory(Self.directory($0), reportDir) })
      {
        throw BadInput(
          description:
            "report --merge --report-dir \(reportDir): that is \(input), one of the runs merged; name another")
      }
      let plans = try loadPlans(merged.plans.map(\.file))
      let dir =
        try reportDir.map { ReportDirectory(path: $0) } ?? ReportDirectory.fresh(under: "Reports", command: "merged")
      let lock = try ReportDirectoryLock.take(dir)
      defer { lock.release() }
      try dir.removeStale(journal: true)
      try printComparison(comparison)
      // Recorded first: the reports end with exit status 1 when anything failed.
      try record(merged, comparison)
      try finishReports(merged, plans: plans, dir: dir, comparison: comparison)
      // Written, and said in the summary; but a merge short of shards is no pass.
      if !merged.complete { throw ExitCode(ExitStatus.failed) }
      return
    }
    let comparison = try comparing(runs[0])
    let dir = ReportDirectory(
      reportDir.map { URL(fileURLWithPath: $0) } ?? Self.url(results[0]).deletingLastPathComponent())
    let both = !html && !junit
    // Not while a sweep writes there.
    let lock = try ReportDirectoryLock.take(dir)
    defer { lock.release() }
    do {
      try dir.writeReports(
        runs[0], comparison: comparison, json: reportDir != nil, junit: junit || both, html: html || both,
        repros: Self.directory(results[0]))
    } catch let e as ResultsError {
      throw BadInput(description: e.description)
    }
    var wrote = [String]()
    if junit || both { wrote.append("\(dir.path)/junit.xml") }
    if html || both { wrote.append("\(dir.path)/report.html") }
    say("wrote \(wrote.joined(separator: ", ")) from \(Self.url(results[0]).path)")
    try record(runs[0], comparison)
    try printComparison(comparison)
  }

  /// The inputs a sweep recorded beside its results (meta.json), if it did.
  static func inputs(_ path: String) -> SweepInputs? {
    let meta = URL(fileURLWithPath: directory(path)).appendingPathComponent("meta.json")
    guard let data = try? Data(contentsOf: meta) else { return nil }
    return (try? JSONDecoder().decode(SweepMeta.self, from: data))?.inputs
  }

  /// Runs merged must have swept the same plan contents with the same build and plugins, and
  /// the plans must still be as they were (the repros are made from them now).
  /// - Throws: `BadInput` saying which run and what changed.
  static func checkInputs(_ paths: [String]) throws {
    let recorded = paths.compactMap { p in inputs(p).map { (path: p, inputs: $0) } }
    guard let first = recorded.first else { return }
    for r in recorded.dropFirst() where r.inputs != first.inputs {
      throw BadInput(
        description: "report --merge: \(r.path) and \(first.path) did not sweep the same inputs: "
          + r.inputs.changes(since: first.inputs).joined(separator: "; "))
    }
    var now = first.inputs
    for f in first.inputs.plans.keys { now.plans[f] = try? SweepInputs.hash(file: f) }
    let changed = now.changes(since: first.inputs)
    guard changed.isEmpty else {
      throw BadInput(
        description: "report --merge: since the runs were made, " + changed.joined(separator: "; ")
          + "; the repros would come from the plans as they are now")
    }
  }

  /// Prints new, still failing, fixed, unchecked and expected; exit status 1 when something is new.
  func printComparison(_ c: RunComparison?) throws {
    guard let c else { return }
    let lists = [
      ("new", c.new), ("still failing", c.still), ("fixed", c.fixed),
      ("not rechecked (none of the scenarios that showed it passed in this run)", c.unchecked),
      ("expected behaviour of the engine (not bugs)", c.expected),
    ]
    for (title, keys) in lists where title == "new" || title == "still failing" || title == "fixed" || !keys.isEmpty {
      say("\(title): \(keys.count)")
      for k in keys { say("  \(TerminalText.visible(k.plan)): \(TerminalText.visible(k.signature))") }
    }
    // A merge's comparison is said, but a merge short of shards is what decides its status.
    if !c.new.isEmpty && !merge { throw ExitCode(ExitStatus.failed) }
  }
}
