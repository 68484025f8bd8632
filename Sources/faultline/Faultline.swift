import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

/// Exit statuses: 0 every expectation held, 1 a violation or unexpected outcome, 2 bad input.
enum ExitStatus {
  static let ok: Int32 = 0
  static let failed: Int32 = 1
  static let badInput: Int32 = 2
}

@main
struct Faultline: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "faultline",
    abstract:
      "Fault injection for filesystem error paths: run fault plans against an engine and judge locks, extents and data.",
    subcommands: [
      Run.self, SweepCommand.self, ExploreCommand.self, Replay.self, ReportCommand.self, Validate.self, Points.self,
      Engines.self, ErrorHandlers.self, SweepWorker.self,
    ])

  static func main() {
    ProcessTuning.keepHeap()
    // A write to a pipe whose reader is gone (a worker that died, a guest, `| head`) fails with
    // EPIPE where it is written, in every command and in workers alike; it never kills faultline.
    signal(SIGPIPE, SIG_IGN)
    let status = runCommand()
    // Guests the linux engine booted are powered off however the command ended.
    FaultlineEngines.shutdownMachines()
    Foundation.exit(status)
  }

  /// Runs the command and returns its exit status (help printed is 0).
  static func runCommand() -> Int32 {
    do {
      var command = try parseAsRoot()
      try command.run()
      return ExitStatus.ok
    } catch let e as BadInput {
      FileHandle.standardError.write(Data((TerminalText.visibleLines(e.description) + "\n").utf8))
      return ExitStatus.badInput
    } catch let e as ResultsError {
      // Results that cannot be read, merged or written: said where, nothing half-written.
      FileHandle.standardError.write(Data((TerminalText.visibleLines(e.description) + "\n").utf8))
      return ExitStatus.badInput
    } catch let e as ExitCode {
      return e.rawValue
    } catch {
      // Usage errors and help: argument-parser prints them; usage errors are bad input.
      let code = exitCode(for: error)
      if code == .success {
        print(fullMessage(for: error))
        return ExitStatus.ok
      }
      FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
      return ExitStatus.badInput
    }
  }
}

/// Bad input of any kind: printed as is, exit status 2.
struct BadInput: Error, CustomStringConvertible {
  let description: String
}

/// Loads every plan under `paths`; all load errors are reported, then `BadInput` is thrown.
func loadPlans(_ paths: [String]) throws -> [Plan] {
  let loader = PlanLoader(registry: FaultlineEngines.registry)
  let files: [String]
  do {
    files = try PlanLoader.planFiles(in: paths)
  } catch let e as PlanError {
    throw BadInput(description: e.description)
  }
  guard !files.isEmpty else {
    throw BadInput(description: "no plan files (*.yaml) under \(paths.joined(separator: " "))")
  }
  var plans: [Plan] = []
  var errors: [String] = []
  for f in files {
    do {
      plans.append(try loader.load(file: f))
    } catch let e as PlanError {
      errors.append(e.description)
    }
  }
  errors += PlanLoader.duplicateNames(plans).map(\.description)
  if !errors.isEmpty { throw BadInput(description: errors.joined(separator: "\n")) }
  return plans
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run plans (files or directories) and judge every scenario.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "Plan files or directories of plans.")
  var paths: [String]

  @Option(name: .customLong("bug"), help: "Switch a historical bug of the engine on (repeatable).")
  var bugs: [String] = []

  @Option(help: "Seed for random schedules and probability triggers (overrides the plan's).")
  var seed: UInt64?

  @Option(help: "Run each plan under N seeded random schedules and report each distinct failure once.")
  var schedules: Int?

  @Option(
    help:
      "Run under the seeded random schedule with this seed (what `run --schedules N` prints to reproduce one of them).")
  var scheduleSeed: UInt64?

  enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }
  @Option(help: "Output format: text or json.")
  var format: Format = .text

  @Option(help: "Also write results.json, junit.xml and report.html to this directory.")
  var reportDir: String?

  func run() throws {
    try plugins.activate()
    let plans = try loadPlans(paths)
    let registry = FaultlineEngines.registry
    for plan in plans {
      let known = registry.descriptor(named: plan.engine)!.bugs.map(\.name)
      for b in bugs where !known.contains(b) {
        let hint = DidYouMean.hint(b, among: known).map { "; \($0)" } ?? ""
        throw BadInput(
          description:
            "--bug \(b): engine \(plan.engine) has no such bug switch (it has: \(known.joined(separator: ", ")))\(hint)"
        )
      }
    }
    if let n = schedules, n < 1 { throw BadInput(description: "--schedules \(n): expected at least 1") }
    if schedules != nil && scheduleSeed != nil {
      throw BadInput(description: "--schedules with --schedule-seed: one picks N schedules, the other one; give one")
    }
    // The report directory is this run's alone, and holds nothing of an earlier run.
    let lock = try reportDir.map { try ReportDirectoryLock.take(ReportDirectory(path: $0)) }
    defer { lock?.release() }
    try lock?.directory.removeStale(journal: true)
    if let n = schedules { return try runSchedules(plans, n) }
    let runner = ScenarioRunner(registry: registry)
    // Each result is printed as it comes and not kept (a run of thousands of plans held them all);
    // only --report-dir keeps what its reports need.
    var (count, failed, unjudged, notPassed) = (0, 0, 0, false)
    var planResults: [PlanResults] = []
    let json = JSONReport.Streamer { FileHandle.standardOutput.write($0) }
    for plan in plans {
      let r: ScenarioResult
      do {
        var options = RunOptions(bugs: bugs, seed: seed, schedule: scheduleSeed.map { .random(seed: $0) })
        if !plan.faults.isEmpty { options.faultFree = try runner.faultFreeSnapshot(plan, options) }
        let hits: [Hit]
        (r, hits) = try runner.runRecordingHits(plan, options)
        if reportDir != nil { planResults.append(.ofRuns(plan, bugs: bugs, runs: [(r, nil)], reached: hits)) }
      } catch let e as SetupError {
        throw BadInput(description: e.description)
      }
      count += 1
      if r.failed { failed += 1 } else if !r.judged { unjudged += 1 }
      notPassed = notPassed || !r.passed
      switch format {
      case .json: try json.add(r)
      case .text: print(TextReport.render(r, reproduce: reproduce(r, scheduleSeed: scheduleSeed)), terminator: "")
      }
    }
    try writeReports(planResults, loaded: plans)
    switch format {
    case .json:
      json.finish()
      FileHandle.standardOutput.write(Data("\n".utf8))
    case .text:
      print(
        "\(count - failed - unjudged) passed, \(failed) failed" + (unjudged > 0 ? ", \(unjudged) unjudged" : ""))
    }
    if let reportDir, format == .text {
      print("reports: \(TerminalText.visible(reportDir))/results.json, junit.xml, report.html")
    }
    if notPassed { throw ExitCode(ExitStatus.failed) }
  }

  /// With --report-dir: results.json and the reports made from it.
  func writeReports(_ plans: [PlanResults], loaded loadedPlans: [Plan]) throws {
    guard let reportDir else { return }
    var results = RunResults(command: "run", bugs: bugs.sorted(), plans: plans, catalogs: catalogs())
    results.engineOptions = plugins.engineOptions
    let features = engineFeatures(loadedPlans)
    results.features = features.isEmpty ? nil : features
    results.markExpected(expectedInvariants())
    try ReportDirectory(URL(fileURLWithPath: reportDir)).writeReports(results)
  }

  /// The command that runs `r`'s scenario again from any directory: the plan by absolute path,
  /// its seed, the random schedule it ran under, the bugs and the engines loaded.
  func reproduce(_ r: ScenarioResult, scheduleSeed: UInt64?) -> String {
    ReproCommand(engineOptions: plugins.engineOptions ?? []).run(
      file: r.file, seed: r.seed, scheduleSeed: scheduleSeed, bugs: bugs)
  }
}

extension Run {
  /// N seeded random schedules of each plan; failures grouped by signature, each printed once
  /// with how often it came up and the schedule seed that reproduces it.
  func runSchedules(_ plans: [Plan], _ n: Int) throws {
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    var shown: [ScenarioResult] = []
    var totalFailed = 0
    var summaries: [String] = []
    var planResults: [PlanResults] = []
    for plan in plans {
      var groups: [(signature: String, first: ScenarioResult, count: Int, scheduleSeed: UInt64)] = []
      var runs: [(result: ScenarioResult, scheduleSeed: UInt64?)] = []
      var reached: [Hit] = []
      var rng = SplitMix64(seed: seed ?? plan.seed)
      for _ in 0..<n {
        let scheduleSeed = rng.next()
        let r: ScenarioResult
        do {
          let hits: [Hit]
          (r, hits) = try runner.runRecordingHits(
            plan, RunOptions(bugs: bugs, seed: seed, schedule: .random(seed: scheduleSeed)))
          if runs.isEmpty { reached = hits }
        } catch let e as SetupError {
          throw BadInput(description: e.description)
        }
        runs.append((r, scheduleSeed))
        guard !r.passed else { continue }
        if let i = groups.firstIndex(where: { $0.signature == r.signature }) {
          groups[i].count += 1
        } else {
          groups.append((r.signature, r, 1, scheduleSeed))
        }
      }
      let failed = groups.reduce(0) { $0 + $1.count }
      totalFailed += failed
      summaries.append(
        "\(TerminalText.visible(plan.name)): \(n) schedules, \(n - failed) passed, \(failed) failed, \(groups.count) distinct failure(s)"
      )
      for g in groups {
        shown.append(g.first)
        if format == .text {
          print(TextReport.render(g.first, reproduce: reproduce(g.first, scheduleSeed: g.scheduleSeed)), terminator: "")
          print(
            "seen in \(g.count) of \(n) schedules of \(TerminalText.visible(plan.name)); this one: \(TerminalText.visible(g.first.schedule))\n"
          )
        }
      }
      planResults.append(.ofRuns(plan, bugs: bugs, runs: runs, reached: reached))
    }
    try writeReports(planResults, loaded: plans)
    switch format {
    case .json:
      var data = try JSONReport.encode(shown)
      data.append(0x0A)
      FileHandle.standardOutput.write(data)
    case .text:
      for s in summaries { print(s) }
      print("\(plans.count * n - totalFailed) passed, \(totalFailed) failed")
    }
    if totalFailed > 0 { throw ExitCode(ExitStatus.failed) }
  }
}

struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check plans without running them: every error of every file, each located; exit 2 if any.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "Plan files or directories of plans.")
  var paths: [String]

  func run() throws {
    try plugins.activate()
    let plans = try loadPlans(paths)
    for p in plans {
      let t = TerminalText.visible
      print(
        "ok \(t(p.file)) (\(t(p.name)), engine \(t(p.engine)), \(p.tasks.count) task(s), \(p.faults.count) fault(s))")
    }
  }
}

struct Points: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List engines' fault points: name, kind, errnos, actions, where it is.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "Only this engine (the same as --engine).")
  var engineName: String?

  @Option(help: "Only this engine.")
  var engine: String?

  func run() throws {
    try plugins.activate()
    let registry = FaultlineEngines.registry
    var engines = registry.all
    if let a = engineName, let b = engine, a != b {
      throw BadInput(description: "points \(a) --engine \(b): two different engines; give one")
    }
    if let engine = engineName ?? engine {
      guard let d = registry.descriptor(named: engine) else {
        let hint = DidYouMean.hint(engine, among: registry.names).map { "; \($0)" } ?? ""
        throw BadInput(
          description:
            "\(engineName == nil ? "--engine " : "points ")\(engine): no such engine (engines: \(registry.names.joined(separator: ", ")))\(hint)"
        )
      }
      engines = [d]
    }
    let t = TerminalText.visible
    for e in engines {
      print("\(t(e.name)):")
      let width = e.catalog.points.map { t($0.name).count }.max() ?? 0
      for p in e.catalog.points {
        let name = t(p.name).padding(toLength: width, withPad: " ", startingAt: 0)
        let kind = p.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
        print(
          "  \(name)  \(kind)  errnos: \(p.errnos.map(\.name).joined(separator: ",")); actions: \(p.actions.map(\.rawValue).joined(separator: ","))"
        )
        print("  \(String(repeating: " ", count: width))  \(t(p.about))")
      }
      // The engine's far side as it would run with no plan: the kernel --kernel, FAULTLINE_KERNEL
      // or the cache names.
      if let f = e.features?(nil) { for line in f.lines { print("  " + t(line)) } }
    }
  }
}

struct Engines: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List engines with their operations, bug switches and invariants.")

  @OptionGroup var plugins: PluginOptions

  func run() throws {
    try plugins.activate()
    let t = TerminalText.visible
    for e in FaultlineEngines.registry.all {
      print("\(t(e.name)): \(t(e.about))")
      print("  operations: \(e.operations.map(\.rawValue).joined(separator: ", "))")
      print("  invariants: \(t(e.invariants.map(\.rawValue).joined(separator: ", ")))")
      print("  bugs:")
      for b in e.bugs { print("    \(t(b.name)): \(t(b.about))") }
    }
  }
}
