import ArgumentParser
import BuiltinEngines
import FaultKit
import FaultReports
import Foundation

struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract:
      "Place a fault at every hit of every point each plan reaches; report each distinct failure once, with a repro plan."
  )

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "Plan files or directories of plans.")
  var paths: [String]

  @Option(name: .customLong("bug"), help: "Switch a historical bug of the engine on (repeatable).")
  var bugs: [String] = []

  @Option(help: "1: one fault per scenario; 2: pairs (overrides the plans' sweep: depth).")
  var depth: Int?

  @Option(
    name: .customLong("points"),
    help: "Only points matching this glob (repeatable; overrides the plans' sweep: points).")
  var pointGlobs: [String] = []

  @Option(name: .customLong("actions"), help: "Only these actions (fail, short, restart, yield; repeatable).")
  var actionNames: [String] = []

  @Option(name: .customLong("errnos"), help: "Only these errnos for fail (ENOSPC, EIO …; repeatable).")
  var errnoNames: [String] = []

  @Option(help: "Cross every placement with N seeded random schedules (for plans with several tasks or workers).")
  var schedules = 0

  @Option(
    help:
      "Also explore every schedule that deviates from fifo at most K times (delay-bounded), for every placement.")
  var preemptions: Int?

  @Option(help: "Worker processes running scenarios; an engine that crashes or hangs costs one scenario.")
  var jobs = 1

  @Flag(help: "Run scenarios in this process instead (faster to debug; a crash ends the sweep).")
  var inProcess = false

  @Option(
    help: "Seconds a worker may spend on one scenario before it is killed and the scenario recorded as timed out.")
  var timeout: Double = 60

  @Option(
    help:
      "Take part i of n of the space (i/n). Default: from FAULTLINE_SHARD, Kubernetes JOB_COMPLETION_INDEX with FAULTLINE_SHARD_COUNT, or Slurm SLURM_ARRAY_TASK_ID/COUNT."
  )
  var shard: String?

  @Option(
    help:
      "Where to write results.json, junit.xml, report.html, repro/*.yaml, timings.json and the journal (default: a new Reports/<run-id>/)."
  )
  var reportDir: String?

  @Option(help: "Continue the interrupted sweep in this directory (its journal says what is done).")
  var resume: String?

  @Flag(help: "No progress output.")
  var quiet = false

  @Option(help: "Stop starting scenarios after this many seconds (nightly runs); the report says how much ran.")
  var budget: Double?

  func run() throws {
    // The budget covers the whole command, plan loading and reports included.
    let started = DispatchTime.now().uptimeNanoseconds
    let clock = SweepBudget(seconds: budget, from: started)
    try plugins.activate()
    if let depth, !(1...2).contains(depth) { throw BadInput(description: "--depth \(depth): expected 1 or 2") }
    guard jobs >= 1 else { throw BadInput(description: "--jobs \(jobs): expected at least 1") }
    guard timeout > 0 else {
      throw BadInput(description: "--timeout \(timeout): expected a positive number of seconds")
    }
    let plans = try loadPlans(paths)
    let registry = BuiltinEngines.registry
    var configs: [SweepConfig] = []
    for plan in plans {
      var config = SweepConfig(plan: plan)
      if let depth { config.depth = depth }
      if !pointGlobs.isEmpty { config.points = pointGlobs }
      if !actionNames.isEmpty {
        config.actions = try actionNames.map { a in
          guard let k = FaultActionKind(rawValue: a) else {
            throw BadInput(description: "--actions \(a): expected fail, short, restart or yield")
          }
          return k
        }
      }
      if !errnoNames.isEmpty {
        config.errnos = try errnoNames.map { n in
          guard let e = Errno(name: n) else {
            let hint = DidYouMean.hint(n, among: Errno.named.map(\.name)).map { "; \($0)" } ?? ""
            throw BadInput(description: "--errnos \(n): not an errno name\(hint)")
          }
          return e
        }
      }
      configs.append(config)
      let known = registry.descriptor(named: plan.engine)!.bugs.map(\.name)
      for b in bugs where !known.contains(b) {
        throw BadInput(description: "--bug \(b): engine \(plan.engine) has no such bug switch")
      }
    }
    let theShard: Shard
    if let shard {
      guard let s = Shard(parsing: shard) else {
        throw BadInput(description: "--shard \(shard): expected i/n with 0 <= i < n")
      }
      theShard = s
    } else {
      theShard = Shard.fromEnvironment(ProcessInfo.processInfo.environment) ?? .all
    }
    if !inProcess && workers < jobs {
      FileHandle.standardError.write(
        Data(
          "--jobs \(jobs): this machine has \(workers) core\(workers == 1 ? "" : "s"); running \(workers) worker\(workers == 1 ? "" : "s")\n"
            .utf8))
    }
    // Taken before the space is computed: a second sweep into the same directory stops at once.
    let run = try SweepRunDirectory.open(resume: resume, reportDir: reportDir)
    defer { run.release() }
    let reports = run.reports
    let dir = reports.url
    let driver = SweepDriver(registry: registry)
    let space: [[SweepScenario]]
    let pruned: [Int]
    let reached: [[PointHits]]
    guard schedules >= 0 else { throw BadInput(description: "--schedules \(schedules): expected 0 or more") }
    if let preemptions, preemptions < 0 {
      throw BadInput(description: "--preemptions \(preemptions): expected 0 or more")
    }
    let inputs = try SweepInputs.current(planFiles: plans.map(\.file), pluginFiles: plugins.files)
    do {
      let (bugs, schedules, preemptions) = (bugs.sorted(), schedules, preemptions)
      guard
        let computed = try clock.within({
          try driver.space(plans, configs: configs, bugs: bugs, schedules: schedules, delayBound: preemptions)
        })
      else {
        return try reportOutOfBudget(
          plans, configs: configs, shard: theShard, inputs: inputs, run: run, started: started)
      }
      (space, pruned, reached) = computed
    } catch let e
      as SetupError
    {
      throw BadInput(description: e.description)
    }
    let meta = SweepMeta(
      plans: plans.indices.map { i in
        SweepMeta.PlanEntry(
          file: plans[i].file, name: plans[i].name, engine: plans[i].engine, depth: configs[i].depth,
          space: space[i].count, pruned: pruned[i], reached: reached[i])
      }, bugs: bugs.sorted(), shard: theShard, inputs: inputs)
    try run.begin(meta, resuming: resume != nil)
    // From here a resume can continue what is interrupted.
    let interrupt = SweepInterrupt(
      progressOpen: !quiet && isatty(STDOUT_FILENO) == 1, journal: dir.appendingPathComponent("journal.jsonl").path,
      resumeCommand: SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path),
      lock: dir.appendingPathComponent(ReportDirectoryLock.fileName).path)
    defer { withExtendedLifetime(interrupt) {} }
    let journalURL = dir.appendingPathComponent("journal.jsonl")
    var outcomes = SweepJournal.read(journalURL)
    var done = Set(outcomes.map(\.scenario.key))
    let journal = try SweepJournal(url: journalURL)
    var firstResults = FirstResults(outcomes)

    func children(_ o: SweepOutcome) -> [SweepScenario] {
      driver.children(of: o).filter { !done.contains($0.key) }
    }
    let mine = space.flatMap { $0 }.filter { theShard.owns($0.index) }
    var initial = mine.filter { !done.contains($0.key) }
    for o in outcomes { initial += children(o) }
    let total = space.reduce(0) { $0 + $1.count }
    if !quiet {
      var line = "sweep: \(plans.count) plan(s), \(total) depth-1 scenarios in the space"
      if theShard != .all { line += ", \(mine.count) in shard \(theShard)" }
      if !outcomes.isEmpty { line += ", \(outcomes.count) already done" }
      if configs.contains(where: { $0.depth >= 2 }) { line += " (depth 2 adds a second fault at every hit of each)" }
      say(line)
    }
    let progress = Progress(quiet: quiet, total: initial.count + outcomes.count, done: outcomes.count)
    let executor: any ScenarioExecutor =
      inProcess ? InProcessExecutor(registry: registry) : WorkerPool(jobs: workers, timeoutSeconds: timeout)
    var journalError: Error?
    var budgetReached = clock.expired
    try executor.run(budgetReached ? [] : initial) { o in
      var o = firstResults.keep(o)
      do { try journal.append(o) } catch {
        // A journal that cannot be written (a full disk) stops the sweep now: every scenario run
        // after it would be lost to a resume.
        journalError = journalError ?? error
        return nil
      }
      o.encoded = nil  // journaled; the decoded outcome is what the reports read
      outcomes.append(o)
      done.insert(o.scenario.key)
      let more = children(o)
      progress.step(failed: o.failed, added: more.count)
      if clock.expired {
        budgetReached = true
        return nil
      }
      return more
    }
    progress.end()
    if let journalError {
      throw ResultsError(
        message: "\(journalError); the sweep stopped (\(outcomes.count) scenarios are journaled); once that is fixed: "
          + SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path))
    }
    if budgetReached {
      say(
        "budget of \(seconds(budget!))s reached: \(outcomes.count) scenarios ran; "
          + SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path) + " continues")
    }

    let results = RunResults(
      command: "sweep", bugs: meta.bugs, shard: theShard, complete: !budgetReached,
      plans: SweepDriver.reports(meta: meta, outcomes: outcomes), catalogs: catalogs())
    let timings = RunTimings(
      wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, jobs: inProcess ? 0 : workers,
      plans: plans.map { ($0.name, $0.file) }, outcomes: outcomes)
    try reports.write("timings.json", try JSONEncoder.sorted.encode(timings))
    try finishReports(results, plans: plans, dir: reports, deadline: clock.deadline)
  }

  /// Worker processes that run at once: `--jobs`, but no more than the cores (the pool runs one
  /// job per core at most), said when that is fewer.
  var workers: Int {
    let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
    return min(jobs, cores)
  }
}

/// Engine name → the invariants it calls expected behaviour, for `RunResults.markExpected`.
func expectedInvariants() -> [String: Set<InvariantName>] {
  var out: [String: Set<InvariantName>] = [:]
  for e in BuiltinEngines.registry.all { out[e.name] = e.expectedInvariants }
  return out
}

/// Engine name → declared fault points, for coverage.
func catalogs() -> [String: [FaultPoint]] {
  var out: [String: [FaultPoint]] = [:]
  for e in BuiltinEngines.registry.all { out[e.name] = e.catalog.points }
  return out
}

/// Writes a repro plan per distinct failure (shrunk), then results.json, junit.xml and
/// report.html; prints the summary; exit status 1 when anything failed or could not be judged.
/// After `deadline` (uptime nanoseconds) nothing is re-run or shrunk: the repros are written as
/// found and the results marked incomplete.
func finishReports(
  _ results: RunResults, plans: [Plan], dir: ReportDirectory, comparison: RunComparison? = nil, deadline: UInt64? = nil
)
  throws
{
  var results = results
  let runner = ScenarioRunner(registry: BuiltinEngines.registry)
  results.markExpected(expectedInvariants())
  var names = ReproFileNames()
  var cut = false
  for (k, r) in results.plans.enumerated() {
    guard let plan = plans.first(where: { $0.file == r.file }) else { continue }
    for (i, f) in r.failures.enumerated() {
      let late = deadline.map { DispatchTime.now().uptimeNanoseconds >= $0 } ?? false
      if !late { results.plans[k].failures[i] = f.withSnapshots(plan, bugs: r.bugs, runner: runner) }
      let made = SweepRepro.make(
        plan, f, number: i + 1, bugs: r.bugs, registry: BuiltinEngines.registry, deadline: deadline)
      let name = names.path(for: made.plan.name)
      try dir.write(name, Data(PlanWriter.yaml(made.plan).utf8))
      results.plans[k].failures[i].repro = name
      results.plans[k].failures[i].shrunk = made.shrunk.map {
        "\($0.before) ops to \($0.after) in \($0.runs) runs" + (made.finished ? "" : " (the budget cut it short)")
      }
      cut = cut || late || !made.finished
    }
  }
  if cut {
    results.complete = false
    say("budget spent while the reports were made: repros written as far as they were shrunk, results incomplete")
  }
  try dir.writeReports(results, comparison: comparison)
  let color = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
  FileHandle.standardOutput.write(Data(SummaryReport.render(results, dir: dir.path, color: color).utf8))
  if results.unexpectedFailures > 0 { throw ExitCode(ExitStatus.failed) }
}

/// Progress: a live line on a terminal; a plain line every few seconds otherwise (CI logs).
final class Progress {
  let quiet: Bool
  let tty = isatty(STDOUT_FILENO) == 1
  var total: Int
  var done: Int
  var failed = 0
  let start = DispatchTime.now().uptimeNanoseconds
  var last: UInt64 = 0

  init(quiet: Bool, total: Int, done: Int) {
    self.quiet = quiet
    self.total = total
    self.done = done
  }

  func step(failed f: Bool, added: Int) {
    done += 1
    total += added
    if f { failed += 1 }
    guard !quiet else { return }
    let now = DispatchTime.now().uptimeNanoseconds
    guard now - last >= (tty ? 100_000_000 : 5_000_000_000) || done == total else { return }
    last = now
    let secs = Double(now - start) / 1e9
    let rate = secs > 0 ? Double(done) / secs : 0
    let eta = rate > 0 ? Double(total - done) / rate : 0
    let text = String(format: "%d/%d scenarios, %.0f/s, ETA %.0fs, %d failed", done, total, rate, eta, failed)
    FileHandle.standardOutput.write(Data((tty ? "\r\(text)" : "\(text)\n").utf8))
  }

  func end() {
    if !quiet && tty { FileHandle.standardOutput.write(Data("\n".utf8)) }
  }
}

/// `faultline sweep-worker`: reads scenarios (JSON lines) on standard input, runs each, writes
/// its outcome (a JSON line) on standard output. The sweep's worker processes run this.
struct SweepWorker: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep-worker",
    abstract: "Run sweep scenarios sent on standard input (used by faultline sweep --jobs).",
    shouldDisplay: false)

  func run() throws {
    let registry = BuiltinEngines.registry
    let runner = ScenarioRunner(registry: registry)
    let loader = PlanLoader(registry: registry)
    var plans: [String: Plan] = [:]
    let decoder = JSONDecoder()
    let encoder = JSONEncoder.sorted
    while let line = readLine(strippingNewline: true) {
      let sc = try decoder.decode(SweepScenario.self, from: Data(line.utf8))
      let plan = try plans[sc.plan] ?? loader.load(file: sc.plan)
      plans[sc.plan] = plan
      var out = try encoder.encode(try InProcessExecutor.execute(sc, plan, runner))
      out.append(0x0A)
      FileHandle.standardOutput.write(out)
    }
  }
}

extension JSONEncoder {
  /// Sorted keys, no escaped slashes: the same value encodes to the same bytes.
  static var sorted: JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
  }
}

struct Replay: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Re-run a repro plan and show its violation, the diff and the trace around the fault.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "A repro plan (or any plan).")
  var repro: String

  func run() throws {
    try plugins.activate()
    let plans = try loadPlans([repro])
    let runner = ScenarioRunner(registry: BuiltinEngines.registry)
    var failed = false
    for plan in plans {
      let r: ScenarioResult
      do { r = try runner.run(plan) } catch let e as SetupError { throw BadInput(description: e.description) }
      print(TextReport.render(r), terminator: "")
      failed = failed || !r.passed
    }
    if failed { throw ExitCode(ExitStatus.failed) }
  }
}

/// Writes a line to standard output unbuffered, so it interleaves with progress lines in order.
/// The line is escaped for the terminal: it may quote plans, engines and paths.
func say(_ line: String) {
  FileHandle.standardOutput.write(Data((TerminalText.visible(line) + "\n").utf8))
}
