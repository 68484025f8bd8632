import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract:
      "Place a fault at every hit of every point each plan reaches; report each distinct failure once, with a repro plan."
  )

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "Plan files or directories of plans (none with --resume: the sweep's own).")
  var paths: [String] = []

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

  @Option(
    help:
      "Run each failure of an engine that is not deterministic (linux) this many times again and report how often it reproduced."
  )
  var reruns = 3

  @Flag(help: "Run scenarios in this process instead (faster to debug; a crash ends the sweep).")
  var inProcess = false

  @Option(
    help: "Seconds a worker may spend on one scenario before it is killed and the scenario recorded as timed out.")
  var timeout: Double = 60

  @Option(
    help:
      "Take part i of n of the space (i/n). Default: from FAULTLINE_SHARD, Kubernetes JOB_COMPLETION_INDEX with FAULTLINE_SHARD_COUNT, or a Slurm array's SLURM_ARRAY_TASK_ID/COUNT/MIN/STEP; a bad value there is bad input."
  )
  var shard: String?

  @Option(
    help:
      "Where to write results.json, junit.xml, report.html, repro/*.yaml, timings.json and the journal (default: a new Reports/<run-id>/)."
  )
  var reportDir: String?

  @Option(
    help:
      "Continue the interrupted sweep in this directory (its journal says what is done); without plan paths, with the arguments it was started with."
  )
  var resume: String?

  @Flag(help: "No progress output.")
  var quiet = false

  @Option(help: "Stop starting scenarios after this many seconds (nightly runs); the report says how much ran.")
  var budget: Double?

  @Option(
    help:
      "Stop starting scenarios once this many have run in this command (a budget the machine's speed does not change; exact with --jobs 1)."
  )
  var maxScenarios: Int?

  @Option(
    help:
      "A rotation state file (JSON; made if missing): sweep the space round-robin across plans from where the last sweep with this file stopped, and record where this one stops (nightlies with --budget)."
  )
  var rotation: String?

  @Option(
    help:
      "A known-failures file (plan + signature each; Plans/known-failures.yaml is the baseline of Plans/): failures it lists are known, not new, and exit 1 means something new."
  )
  var known: String?

  @Flag(
    help:
      "Count which error handlers of each engine the sweep executed (needs a coverage build: scripts/faultline --error-coverage …): results.json, the summary and report.html list the unreached ones."
  )
  var errorCoverage = false

  func run() throws {
    if paths.isEmpty {
      guard let resume else {
        throw BadInput(description: "sweep: expected plan files or directories (or --resume DIR)")
      }
      return try Self.resuming(resume).run()
    }
    // The budget covers the whole command, plan loading and reports included.
    let started = DispatchTime.now().uptimeNanoseconds
    let clock = SweepBudget(seconds: budget, from: started)
    try plugins.activate()
    if let depth, !(1...2).contains(depth) { throw BadInput(description: "--depth \(depth): expected 1 or 2") }
    guard jobs >= 1 else { throw BadInput(description: "--jobs \(jobs): expected at least 1") }
    if let maxScenarios, maxScenarios < 1 {
      throw BadInput(description: "--max-scenarios \(maxScenarios): expected a positive number of scenarios")
    }
    guard timeout > 0 else {
      throw BadInput(description: "--timeout \(timeout): expected a positive number of seconds")
    }
    if rotation != nil && resume != nil {
      throw BadInput(
        description:
          "--rotation with --resume: a rotation starts each sweep afresh where the last one stopped; give one")
    }
    guard (0...100).contains(reruns) else { throw BadInput(description: "--reruns \(reruns): expected 0 to 100") }
    let plans = try loadPlans(paths)
    let engineNames = Array(Set(plans.map(\.engine))).sorted()
    if errorCoverage && inProcess {
      throw BadInput(
        description: "--error-coverage with --in-process: the counters are kept per engine by worker processes")
    }
    let measure = errorCoverage ? try ErrorCoverageMeasure.ready(for: engineNames) : nil
    let baseline = try known.map(KnownFailures.read)
    let registry = FaultlineEngines.registry
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
    // What the engines' far sides have (a kernel's options), said before anything runs.
    let features = engineFeatures(plans)
    if !quiet { for f in features { for line in f.lines { say(line) } } }
    let theShard: Shard
    if let shard {
      guard let s = Shard(parsing: shard) else {
        throw BadInput(description: "--shard \(shard): expected i/n with 0 <= i < n")
      }
      theShard = s
    } else {
      do {
        theShard = try Shard.fromEnvironment(ProcessInfo.processInfo.environment) ?? .all
      } catch let e as ShardEnvironmentError {
        throw BadInput(description: e.description)
      }
    }
    if !inProcess && workers < jobs {
      FileHandle.standardError.write(
        Data(
          "--jobs \(jobs): this machine has \(workers) core\(workers == 1 ? "" : "s"); running \(workers) worker\(workers == 1 ? "" : "s")\n"
            .utf8))
    }
    // Checked before the report directory is touched.
    let rotationState = try rotation.map { try SweepRotation.read($0, shard: theShard) }
    // Taken before the space is computed: a second sweep into the same directory stops at once.
    let run = try SweepRunDirectory.open(resume: resume, reportDir: reportDir)
    defer { run.release() }
    let reports = run.reports
    let dir = reports.url
    // Before any worker starts (their environment is taken at the first): where they write counters.
    let profiles = dir.appendingPathComponent("error-coverage")
    if measure != nil {
      try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
      setenv(ProfileAttribution.environmentKey, profiles.path, 1)
    }
    let driver = SweepDriver(registry: registry)
    let space: [[SweepScenario]]
    let pruned: [Int]
    let reached: [[PointHits]]
    let decided: [SweepOutcome]
    let isolation = EngineIsolation(jobs: workers, timeoutSeconds: timeout)
    guard schedules >= 0 else { throw BadInput(description: "--schedules \(schedules): expected 0 or more") }
    if let preemptions, preemptions < 0 {
      throw BadInput(description: "--preemptions \(preemptions): expected 0 or more")
    }
    let inputs = try SweepInputs.current(planFiles: plans.map(\.file), pluginFiles: plugins.files)
    do {
      let (sortedBugs, schedules, preemptions) = (bugs.sorted(), schedules, preemptions)
      let inProcess = inProcess
      guard
        let computed = try clock.within({
          // The fault-free recording runs are engine code too: in workers, unless --in-process.
          let recordings = inProcess ? nil : try isolation.record(plans, configs: configs, bugs: sortedBugs)
          return try driver.space(
            plans, configs: configs, bugs: sortedBugs, schedules: schedules, delayBound: preemptions,
            recordings: recordings)
        })
      else {
        return try reportOutOfBudget(
          plans, configs: configs, shard: theShard, inputs: inputs, run: run, started: started)
      }
      (space, pruned, reached, decided) = computed
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
      }, bugs: bugs.sorted(), shard: theShard, inputs: inputs,
      arguments: SweepInterrupt.sweepArguments(CommandLine.arguments),
      directory: FileManager.default.currentDirectoryPath)
    try run.begin(meta, resuming: resume != nil)
    // From here a resume can continue what is interrupted.
    let interrupt = SweepInterrupt(
      progressOpen: !quiet && isatty(STDERR_FILENO) == 1, journal: dir.appendingPathComponent("journal.jsonl").path,
      resumeCommand: SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path),
      lock: dir.appendingPathComponent(ReportDirectoryLock.fileName).path)
    defer { withExtendedLifetime(interrupt) {} }
    let journalURL = dir.appendingPathComponent("journal.jsonl")
    // Nothing of the journal is held but what resume needs: no outcome stays in memory.
    var resumed = try SweepResume(journal: journalURL)
    let journal = try SweepJournal(url: journalURL)

    func children(_ o: SweepOutcome) -> [SweepScenario] {
      driver.children(of: o).filter { !resumed.isDone($0.key) }
    }
    let mine = space.flatMap { $0 }.filter { theShard.owns($0.index) }
    // Plans whose recording run crashed or hung: their fault-free scenario is decided already.
    let undecided = decided.filter { theShard.owns($0.scenario.index) && !resumed.isDone($0.scenario.key) }
    let decidedKeys = Set(decided.map(\.scenario.key))
    var initial = mine.filter { !resumed.isDone($0.key) && !decidedKeys.contains($0.key) }
    let rotation = self.rotation.flatMap { path in
      rotationState.map { SweepRotation(path: path, state: $0, space: space, planNames: plans.map(\.name)) }
    }
    if let rotation { initial = rotation.arrange(initial) }
    var tracker = SweepRotation.Tracker(initial + undecided.map(\.scenario))
    initial += try resumed.pendingChildren(driver)
    let already = resumed.count
    var ran = 0
    let total = space.reduce(0) { $0 + $1.count }
    if !quiet {
      var line = "sweep: \(plans.count) plan(s), \(total) depth-1 scenarios in the space"
      if theShard != .all { line += ", \(mine.count) in shard \(theShard)" }
      if already > 0 { line += ", \(already) already done" }
      if configs.contains(where: { $0.depth >= 2 }) { line += " (depth 2 adds a second fault at every hit of each)" }
      say(line)
    }
    let progress = Progress(
      quiet: quiet, total: initial.count + undecided.count + already, done: already, failed: resumed.failed,
      unjudged: resumed.unjudged)
    // Plans of engines whose scheduling is not ours: their failures run again.
    var rerunsByPlan: [String: Int] = [:]
    for p in plans where registry.descriptor(named: p.engine)?.deterministic == false { rerunsByPlan[p.file] = reruns }
    // A rotation's units (a depth-1 scenario and its children) stay whole, in its order; else a
    // depth-2 sweep runs pairs of every plan first (`ScenarioQueue`).
    let order: ScenarioQueue.Order? = rotation == nil ? nil : .depthFirst
    let executor: any ScenarioExecutor
    if inProcess {
      var e = InProcessExecutor(registry: registry, reruns: reruns)
      e.order = order
      executor = e
    } else {
      let pool = WorkerPool(jobs: workers, timeoutSeconds: timeout, reruns: rerunsByPlan)
      pool.order = order
      executor = pool
    }
    var journalError: Error?
    var budgetReached = clock.expired
    func finished(_ o: SweepOutcome) -> [SweepScenario]? {
      let o = resumed.firstResults.keep(o)
      do { try journal.append(o) } catch {
        // A journal that cannot be written (a full disk) stops the sweep now: every scenario run
        // after it would be lost to a resume.
        journalError = journalError ?? error
        return nil
      }
      ran += 1
      let more = children(o)
      progress.step(o, added: more.count)
      if clock.expired || maxScenarios.map({ ran >= $0 }) == true {
        budgetReached = true
        tracker.finished(o.scenario, more: more.count, started: false)
        return nil
      }
      tracker.finished(o.scenario, more: more.count, started: true)
      return more
    }
    for o in undecided { _ = finished(o) }
    // A budget spent before the scenarios start runs none of them.
    try executor.run(budgetReached ? [] : initial, onOutcome: finished)
    progress.end()
    if let journalError {
      throw ResultsError(
        message: "\(journalError); the sweep stopped (\(already + ran) scenarios are journaled); once that is fixed: "
          + SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path))
    }
    if budgetReached {
      say(
        (clock.expired ? "budget of \(seconds(budget!))s" : "--max-scenarios \(maxScenarios!)")
          + " reached: \(already + ran) scenarios ran, the first of the sweep's fixed order (only where it stopped is the clock's); "
          + (rotation == nil
            ? SweepInterrupt.resumeCommand(CommandLine.arguments, directory: reports.path) + " continues"
            : "the next sweep with --rotation \(rotation!.path) continues where this one stopped"))
    }
    if let rotation {
      let (state, lines) = rotation.next(tracker)
      try SweepRotation.write(state, to: rotation.path)
      for l in lines { say(l) }
    }

    // The results, from the journal a line at a time; each scenario's line is sorted into space
    // order in bounded memory (spilling beside the journal) and streamed into results.json.
    var builder = SweepReportBuilder(meta: meta, catalogs: catalogs(), spill: dir)
    try SweepJournal.forEach(journalURL) { try builder.add($0) }
    let (planResults, planTimes) = builder.finish()
    var results = RunResults(
      command: "sweep", bugs: meta.bugs, shard: theShard, complete: !budgetReached, plans: planResults,
      catalogs: catalogs())
    results.engineOptions = plugins.engineOptions
    results.features = features.isEmpty ? nil : features
    if let measure {
      // Every worker has ended (and written its counters) by now.
      results.errorCoverage = measure.coverage(
        profiles: profiles, engines: engineNames,
        note: already > 0
          ? "after a resume: handlers reached only by scenarios running when the sweep was interrupted may be missing"
          : nil)
    }
    let timings = RunTimings(
      wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, jobs: inProcess ? 0 : workers,
      plans: planTimes)
    try reports.write("timings.json", try JSONEncoder.sorted.encode(timings))
    try finishReports(
      results, plans: plans, dir: reports, isolation: inProcess ? nil : isolation, lines: builder.lines,
      deadline: clock.deadline, closing: true, known: baseline)
  }

  /// `sweep --resume DIR` with no plan paths: the command `DIR/meta.json` recorded, with this
  /// command line's options after it (a later `--jobs` or `--quiet` wins).
  /// - Throws: `BadInput` when DIR holds no sweep, or one started by a faultline that did not record its arguments.
  static func resuming(_ dir: String) throws -> SweepCommand {
    // Absolute before anything else: the recorded arguments are relative to the directory the
    // sweep started in, which this process moves to.
    let dir = URL(fileURLWithPath: dir).standardizedFileURL.path
    let url = URL(fileURLWithPath: dir).appendingPathComponent("meta.json")
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw BadInput(description: "--resume \(dir): no meta.json of a sweep there")
    }
    guard let data = try? Data(contentsOf: url), let meta = try? JSONDecoder().decode(SweepMeta.self, from: data)
    else { throw BadInput(description: "--resume \(dir): its meta.json is not a sweep's") }
    guard let recorded = meta.arguments, recorded.first == "sweep" else {
      throw BadInput(
        description:
          "--resume \(dir): its meta.json does not record the sweep's arguments (an older faultline started it); give the plan paths and options again"
      )
    }
    let now = Array(CommandLine.arguments.dropFirst().drop { $0 != "sweep" }.dropFirst())
    var command: SweepCommand
    do {
      command = try SweepCommand.parse(Array(recorded.dropFirst()) + now)
    } catch {
      throw BadInput(
        description: "--resume \(dir): the recorded arguments no longer parse: \(SweepCommand.message(for: error))")
    }
    command.resume = dir
    if let started = meta.directory, started != FileManager.default.currentDirectoryPath {
      guard FileManager.default.changeCurrentDirectoryPath(started) else {
        throw BadInput(
          description:
            "--resume \(dir): the sweep started in \(started), which its plan paths are relative to, and that directory cannot be entered"
        )
      }
    }
    return command
  }

  /// Worker processes that run at once: `--jobs`, but no more than the cores (the pool runs one
  /// job per core at most), said when that is fewer.
  var workers: Int {
    let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
    return min(jobs, cores)
  }
}

/// The far-side features of the plans' engines (a kernel's options), each kernel once, in plan order.
func engineFeatures(_ plans: [Plan]) -> [EngineFeatures] {
  var out: [EngineFeatures] = []
  for p in plans {
    guard let f = FaultlineEngines.registry.descriptor(named: p.engine)?.features?(p.setup), !out.contains(f) else {
      continue
    }
    out.append(f)
  }
  return out
}

/// Engine name → the invariants it calls expected behaviour, for `RunResults.markExpected`.
func expectedInvariants() -> [String: Set<InvariantName>] {
  var out: [String: Set<InvariantName>] = [:]
  for e in FaultlineEngines.registry.all { out[e.name] = e.expectedInvariants }
  return out
}

/// Engine name → declared fault points, for coverage.
func catalogs() -> [String: [FaultPoint]] {
  var out: [String: [FaultPoint]] = [:]
  for e in FaultlineEngines.registry.all { out[e.name] = e.catalog.points }
  return out
}

/// Writes a repro plan per distinct failure (shrunk), then results.json, junit.xml and
/// report.html; prints the summary; exit status 1 when anything failed or could not be judged.
/// With `closing` (a sweep), the summary ends with `SweepClosing`'s lines and it sets the status:
/// 1 only when a failure is neither expected by its engine nor in the `--known` baseline.
/// With `isolation`, the engine runs this needs (each failure's snapshots, shrinking) run in
/// worker processes; nil runs them here. After `deadline` (uptime nanoseconds) nothing is re-run
/// or shrunk: the repros are written as found and the results marked incomplete.
func finishReports(
  _ results: RunResults, plans: [Plan], dir: ReportDirectory, comparison: RunComparison? = nil,
  isolation: EngineIsolation? = .standard, lines: ScenarioLines? = nil, deadline: UInt64? = nil,
  closing: Bool = false, known: KnownFailures? = nil
)
  throws
{
  var results = results
  results.markExpected(expectedInvariants())
  var failures: [(k: Int, i: Int, plan: Plan, bugs: [String])] = []
  for (k, r) in results.plans.enumerated() {
    guard let plan = plans.first(where: { $0.file == r.file }) else { continue }
    for i in r.failures.indices { failures.append((k, i, plan, r.bugs)) }
  }
  func group(_ f: (k: Int, i: Int, plan: Plan, bugs: [String])) -> FailureGroup { results.plans[f.k].failures[f.i] }
  let repros: [Repro]
  let late = deadline.map { DispatchTime.now().uptimeNanoseconds >= $0 } ?? false
  if late {
    // Past the budget: no engine runs, repros as found.
    repros = failures.map { f in
      Repro(
        made: SweepRepro.make(
          f.plan, group(f), number: f.i + 1, bugs: f.bugs, registry: FaultlineEngines.registry, shrink: false))
    }
  } else if let isolation {
    let pictured = failures.filter { f in
      let g = group(f)
      return g.kind == .judged && g.result != nil && g.result?.atRest == nil
    }
    let groups = try isolation.snapshots(pictured.map { ($0.plan, $0.bugs, group($0)) })
    for (f, g) in zip(pictured, groups) { results.plans[f.k].failures[f.i] = g }
    repros = try isolation.repros(failures.map { ($0.plan, $0.bugs, group($0), $0.i + 1) }, deadline: deadline)
  } else {
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    for f in failures {
      results.plans[f.k].failures[f.i] = group(f).withSnapshots(f.plan, bugs: f.bugs, runner: runner)
    }
    repros = failures.map { f in
      Repro(
        made: SweepRepro.make(
          f.plan, group(f), number: f.i + 1, bugs: f.bugs, registry: FaultlineEngines.registry, deadline: deadline))
    }
  }
  var names = ReproFileNames()
  for (f, repro) in zip(failures, repros) {
    let name = names.path(for: repro.name)
    try dir.write(name, Data((reproHeader(group(f), engine: f.plan.engine) + repro.yaml).utf8))
    results.plans[f.k].failures[f.i].repro = name
    results.plans[f.k].failures[f.i].shrunk = repro.shrunk
    results.plans[f.k].failures[f.i].notShrunk = repro.notShrunk
  }
  if late {
    results.complete = false
    say("budget spent before the reports were made: repros written as found, results incomplete")
  }
  if let lines {
    try dir.writeReports(results, lines: lines, comparison: comparison)
  } else {
    try dir.writeReports(results, comparison: comparison)
  }
  let color = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
  FileHandle.standardOutput.write(Data(SummaryReport.render(results, dir: dir.path, color: color).utf8))
  if closing {
    let end = SweepClosing(results, dir: dir.path, known: known)
    say("")
    for line in end.lines { say(line) }
    if end.failed { throw ExitCode(ExitStatus.failed) }
    return
  }
  if results.unexpectedFailures > 0 { throw ExitCode(ExitStatus.failed) }
}

/// The comment a repro plan starts with: for a failure that was rerun (an engine that is not
/// deterministic), how often it reproduced, so whoever replays it knows what to expect.
func reproHeader(_ g: FailureGroup, engine: String) -> String {
  guard let words = g.rerunWords else { return "" }
  let text = "Engine \(engine) is not deterministic (its scheduling is not ours): in the sweep this failure \(words)."
  return "# " + text.split(whereSeparator: \.isNewline).joined(separator: " ") + "\n"
}

/// Writes a line to standard output unbuffered, so it interleaves with progress lines in order.
/// The line is escaped for the terminal: it may quote plans, engines and paths.
func say(_ line: String) {
  FileHandle.standardOutput.write(Data((TerminalText.visible(line) + "\n").utf8))
}
