import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

struct ExploreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explore",
    abstract:
      "Generate plans for an engine (every short sequence first, then mutations of those that reach something new), sweep each, and keep a corpus that reaches all that was reached."
  )

  @Option(help: "The engine to explore: \(ExploreProfiles.engines.joined(separator: ", ")).")
  var engine: String?

  @Option(help: "The seed of generation (the same seed gives the same plans and results; default 0).")
  var seed: UInt64?

  @Option(help: "Stop starting generations after this many seconds (a generation cut short runs again on resume).")
  var budget: Double?

  @Option(help: "Stop after this many generated plans in this command (a budget the machine's speed does not change).")
  var maxPlans: Int?

  @Option(
    help:
      "The longest operation sequence of the systematic phase (every one up to it runs first; default 1: mutation starts after 20-30 plans; 2: every pair, 220-330 plans)."
  )
  var length: Int?

  @Option(help: "Plans per generation: each generation is one sweep of that many plans (default 8).")
  var batch: Int?

  @Option(help: "Depth of each plan's sweep: 1 (one fault per scenario, the default) or 2 (pairs).")
  var depth: Int?

  @Option(help: "Worker processes each sweep runs scenarios in.")
  var jobs = 1

  @Option(
    help: "Seconds a worker may spend on one scenario before it is killed and the scenario recorded as timed out.")
  var timeout: Double = 60

  @Option(help: "Take part i of n (i/n): this shard runs the systematic workloads it owns and guides its own.")
  var shard: String?

  @Option(
    help:
      "The coverage that guides generation and chooses the corpus: \(Self.signalNames.joined(separator: ", ")) (error-handlers needs a coverage build: scripts/faultline explore … --signal error-handlers; it sweeps one plan at a time)."
  )
  var signal = "sweep-points"

  @Option(help: "Write the corpus here: the fewest generated plans that together reach all that was reached.")
  var corpus: String?

  @Option(
    help:
      "Where the generations, their sweeps, explore.json and the state go (default: a new Reports/<run-id>/); it must not hold an exploration already."
  )
  var reportDir: String?

  @Option(help: "Continue the exploration in this directory (its engine, seed, length, batch, depth and shard).")
  var resume: String?

  @Option(
    help:
      "A sweep's results.json (of Plans/<engine>, say): say how much of its coverage the exploration reaches, and how much beyond."
  )
  var compare: String?

  @Option(
    help:
      "A known-failures file (Plans/known-failures.yaml): a generated plan's failure whose signature it lists (for any plan) is known, not new."
  )
  var known: String?

  @Flag(help: "No progress output.")
  var quiet = false

  /// The coverage signals `--signal` may name (a new one is added here and in `signal(named:)`):
  /// what sweeps report (`sweep-points`), error-handler coverage from a coverage build
  /// (`error-handlers`, one plan per sweep), or both.
  static let signalNames = ["sweep-points", "error-handlers", "error-handlers+sweep-points"]

  /// The signal `--signal` names, or nil.
  static func signal(named name: String) -> (any CoverageSignal)? {
    switch name {
    case "sweep-points": SweepCoverage()
    case "error-handlers": ErrorHandlerSignal()
    case "error-handlers+sweep-points": ExploreCoverage.Union([ErrorHandlerSignal(), SweepCoverage()])
    default: nil
    }
  }

  func run() throws {
    let started = DispatchTime.now().uptimeNanoseconds
    let clock = SweepBudget(seconds: budget, from: started)
    if let budget, budget <= 0 {
      throw BadInput(description: "--budget \(budget): expected a positive number of seconds")
    }
    if budget == nil && maxPlans == nil {
      throw BadInput(
        description: "explore: expected --budget SECONDS or --max-plans N (an exploration has no end of its own)")
    }
    if let maxPlans, maxPlans < 1 { throw BadInput(description: "--max-plans \(maxPlans): expected at least 1") }
    if let length, !(1...4).contains(length) { throw BadInput(description: "--length \(length): expected 1 to 4") }
    if let batch, !(1...256).contains(batch) { throw BadInput(description: "--batch \(batch): expected 1 to 256") }
    if let depth, !(1...2).contains(depth) { throw BadInput(description: "--depth \(depth): expected 1 or 2") }
    guard jobs >= 1 else { throw BadInput(description: "--jobs \(jobs): expected at least 1") }
    guard timeout > 0 else {
      throw BadInput(description: "--timeout \(timeout): expected a positive number of seconds")
    }
    guard let signal = Self.signal(named: signal) else {
      throw BadInput(description: "--signal \(signal): expected one of \(Self.signalNames.joined(separator: ", "))")
    }
    if signal.wholeSweep, let batch, batch != 1 {
      throw BadInput(
        description:
          "--batch \(batch): --signal \(signal.name) is counted per sweep, not per plan, so each plan is swept alone (--batch 1)"
      )
    }
    if signal.sweepArguments.contains("--error-coverage") {
      // A build without counters, or missing llvm tools, is bad input now, not a failed sweep later.
      _ = try ErrorCoverageMeasure.ready(for: engine.map { [$0] } ?? [])
    }
    let dir: ReportDirectory
    var state: ExploreState
    if let resume {
      if engine != nil || shard != nil || seed != nil || length != nil || batch != nil || depth != nil {
        throw BadInput(
          description:
            "--resume \(resume): the exploration keeps its engine, seed, length, batch, depth and shard; leave out --engine, --seed, --length, --batch, --depth and --shard"
        )
      }
      if let reportDir, !SweepRunDirectory.sameDirectory(resume, reportDir) {
        throw BadInput(
          description: "--resume \(resume) --report-dir \(reportDir): a resumed exploration writes where it started")
      }
      dir = ReportDirectory(path: resume)
      state = try Self.readState(resume)
      if state.signal != signal.name {
        throw BadInput(description: "--resume \(resume): it was guided by \(state.signal), not \(signal.name)")
      }
    } else {
      guard let engine else { throw BadInput(description: "explore: expected --engine ENGINE (or --resume DIR)") }
      guard ExploreProfiles.profile(engine) != nil else {
        let hint = DidYouMean.hint(engine, among: ExploreProfiles.engines).map { "; \($0)" } ?? ""
        throw BadInput(
          description:
            "--engine \(engine): expected an engine explore has a profile for: \(ExploreProfiles.engines.joined(separator: ", "))\(hint)"
        )
      }
      let theShard: Shard
      if let shard {
        guard let s = Shard(parsing: shard) else {
          throw BadInput(description: "--shard \(shard): expected i/n with 0 <= i < n")
        }
        theShard = s
      } else {
        theShard = .all
      }
      if let reportDir, FileManager.default.fileExists(atPath: reportDir + "/" + Self.stateFile) {
        throw BadInput(
          description:
            "--report-dir \(reportDir): it holds an exploration already; continue it with --resume \(reportDir)")
      }
      dir =
        try reportDir.map { ReportDirectory(path: $0) } ?? ReportDirectory.fresh(under: "Reports", command: "explore")
      state = ExploreState(
        engine: engine, seed: seed ?? 0, length: length ?? 1, batch: batch ?? (signal.wholeSweep ? 1 : 8),
        depth: depth ?? 1, signal: signal.name,
        shard: theShard)
    }
    let baseline = try compare.map { try Self.readResults($0) }
    let knownSignatures = Set(try known.map(KnownFailures.read)?.entries.map(\.key.signature) ?? [])
    let profile = ExploreProfiles.profile(state.engine)!
    try IOFailure.makeDirectory(dir.path)
    let lock = try ReportDirectoryLock.take(dir)
    defer { lock.release() }
    var explorer = Explorer(
      profile: profile, state: state, signal: signal, dir: dir, depth: state.depth, jobs: jobs, timeout: timeout,
      quiet: quiet)
    let before = explorer.state.reached.count
    var ranPlans = 0
    var generationsRun = 0
    var stopped: String?
    // Bounded: each pass runs a generation of at least one plan, or stops.
    while true {
      if clock.expired {
        stopped = "budget of \(seconds(budget!))s reached"
        break
      }
      let room = maxPlans.map { $0 - ranPlans } ?? state.batch
      if room <= 0 {
        stopped = "--max-plans \(maxPlans!) reached"
        break
      }
      let remaining = clock.deadline.map { Double($0 - min($0, DispatchTime.now().uptimeNanoseconds)) / 1e9 }
      // A sweep given less than a second would start nothing.
      if let remaining, remaining < 1 {
        stopped = "budget of \(seconds(budget!))s reached"
        break
      }
      guard let ran = try explorer.generation(limit: min(room, state.batch), budget: remaining) else {
        stopped =
          clock.expired
          ? "budget of \(seconds(budget!))s reached in a generation (it runs again on resume)"
          : "every workload within the bounds was generated"
        break
      }
      ranPlans += ran
      generationsRun += 1
      try Self.writeState(explorer.state, dir: dir)
    }
    state = explorer.state
    let output = ExploreOutput(
      profile: profile, state: state, signal: signal, dir: dir, baseline: baseline, known: knownSignatures)
    let corpusDir = corpus ?? dir.url.appendingPathComponent("corpus").path
    let written = try output.writeCorpus(to: corpusDir)
    try dir.write("explore.json", try output.resultsJSON(corpus: written))
    try Self.writeState(state, dir: dir)
    for line in output.summary(
      corpus: written, corpusDir: corpusDir, generationsRun: generationsRun, plansRun: ranPlans, before: before,
      stopped: stopped, resumeCommand: "faultline explore --resume \(dir.path)")
    {
      say(line)
    }
    if state.failures.contains(where: { !knownSignatures.contains($0.signature) }) {
      throw ExitCode(ExitStatus.failed)
    }
  }

  static let stateFile = "explore-state.json"

  static func readState(_ dir: String) throws -> ExploreState {
    let path = dir + "/" + stateFile
    guard let data = FileManager.default.contents(atPath: path) else {
      throw BadInput(description: "--resume \(dir): no \(stateFile) of an exploration there")
    }
    guard let state = try? JSONDecoder().decode(ExploreState.self, from: data),
      state.schema == ExploreState.currentSchema
    else {
      throw BadInput(
        description: "--resume \(dir): its \(stateFile) is not an exploration's (schema \(ExploreState.currentSchema))")
    }
    guard ExploreProfiles.profile(state.engine) != nil else {
      throw BadInput(description: "--resume \(dir): its engine \(state.engine) has no explore profile")
    }
    return state
  }

  static func writeState(_ state: ExploreState, dir: ReportDirectory) throws {
    try JSONStateFile.write(state, to: dir.url.appendingPathComponent(stateFile).path, option: "explore")
  }

  static func readResults(_ path: String) throws -> (results: RunResults, dir: String) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw BadInput(description: "--compare \(path): cannot read it")
    }
    do {
      let r = try JSONDecoder().decode(RunResults.self, from: data)
      guard r.schema == RunResults.currentSchema else {
        throw BadInput(description: "--compare \(path): schema \(r.schema), expected \(RunResults.currentSchema)")
      }
      return (r, URL(fileURLWithPath: path).deletingLastPathComponent().path)
    } catch let e as BadInput {
      throw e
    } catch {
      throw BadInput(description: "--compare \(path): not a results.json of faultline (\(error))")
    }
  }
}
