import Foundation

/// Runs scenarios somewhere: in this process, or in worker processes that may crash or hang.
public protocol ScenarioExecutor {
  /// Runs `initial` and whatever `onOutcome` returns to run next, calling `onOutcome` once per
  /// scenario as it finishes (in any order; never concurrently). `onOutcome` returning nil means
  /// stop: start nothing more (scenarios already running still report).
  func run(_ initial: [SweepScenario], onOutcome: (SweepOutcome) -> [SweepScenario]?) throws
}

/// Runs scenarios in this process: fastest, but a crashing engine takes the sweep with it.
public struct InProcessExecutor: ScenarioExecutor {
  let runner: ScenarioRunner
  let loader: PlanLoader
  /// How many times a failure of an engine that is not deterministic runs again (`--reruns`).
  public var reruns: Int
  /// The order scenarios start in (nil: `ScenarioQueue`'s choice).
  public var order: ScenarioQueue.Order?

  public init(registry: EngineRegistry, reruns: Int = 0) {
    runner = ScenarioRunner(registry: registry)
    loader = PlanLoader(registry: registry)
    self.reruns = reruns
  }

  public func run(_ initial: [SweepScenario], onOutcome: (SweepOutcome) -> [SweepScenario]?) throws {
    var queue = ScenarioQueue(initial, order: order)
    var plans: [String: Plan] = [:]
    while let sc = queue.take() {
      let plan = try plans[sc.plan] ?? loader.load(file: sc.plan)
      plans[sc.plan] = plan
      var o = try Self.execute(sc, plan, runner)
      let deterministic = runner.registry.descriptor(named: plan.engine)?.deterministic ?? true
      if !deterministic && reruns > 0 && o.rerunnable {
        let first = o
        o = o.withReruns(
          try (0..<reruns).map { _ in
            let again = try Self.execute(sc, plan, runner)
            return first.isReproduced(by: again) ? nil : again.endWords
          })
      }
      guard let more = onOutcome(o) else { return }
      queue.add(more, after: sc, state: o.state)
    }
  }

  /// Runs one scenario (what a worker process does for each line it reads). A depth-1 scenario
  /// of a depth-2 sweep also places its children at its own run's hits (all of them: see
  /// `FaultSpace` for why nothing is pruned).
  public static func execute(_ sc: SweepScenario, _ plan: Plan, _ runner: ScenarioRunner) throws -> SweepOutcome {
    var options = RunOptions(
      bugs: sc.bugs, schedule: sc.scheduleSeed.map { .random(seed: $0) }, faults: sc.placements.map(\.spec))
    options.placementsMustFire = true
    if sc.delayBound != nil { options.prefix = sc.prefix ?? [] }
    let expand = sc.placements.count == 1 && sc.child < 0 && sc.prefix == nil ? sc.expand : nil
    let started = DispatchTime.now().uptimeNanoseconds
    let (r, hits, counts) = try runner.runRecordingChoices(plan, options)
    let schedules = sc.delayBound.map { DelayBounded.children(prefix: sc.prefix ?? [], counts: counts, bound: $0) }
    var children: [Placement]?
    if let expand, let catalog = runner.registry.descriptor(named: plan.engine)?.catalog {
      let first = sc.placements[0]
      children = FaultSpace.children(of: first, hits: hits, catalog: catalog, config: expand)
    }
    // Only a failure's result is kept: a passing scenario is one line in the journal, not a trace.
    // Its snapshots stay out of the journal too (a filesystem's can be large): the report
    // re-runs the first scenario of each distinct failure for its pictures (`withSnapshots`).
    var kept = r
    kept.baseline = nil
    kept.atRest = nil
    var o = SweepOutcome(
      scenario: sc, kind: .judged, result: Sweeper.keeps(r) ? kept : nil, children: children, schedules: schedules)
    if Sweeper.unjudged(r) { o.unjudged = true }
    if expand != nil { o.state = StateDigest.of(r) }
    o.fired = r.fired.map { FiredFault(point: $0.point, hit: $0.hit, decision: $0.decision, op: $0.op) }
    o.steps = r.steps
    o.errors = ScenarioEntry.errors(r.ops)
    o.nanos = DispatchTime.now().uptimeNanoseconds - started
    return o
  }
}

/// What a sweep run directory records about itself, for resume and merge.
public struct SweepMeta: Sendable, Codable, Hashable {
  public struct PlanEntry: Sendable, Codable, Hashable {
    public let file: String
    public let name: String
    public let engine: String
    public let depth: Int
    /// Depth-1 scenarios of this plan in the whole space, and placements pruned from it.
    public let space: Int
    public let pruned: Int
    /// How often each point was hit in the plan's fault-free run (the points it reaches).
    public let reached: [PointHits]
    public init(
      file: String, name: String, engine: String, depth: Int, space: Int, pruned: Int = 0, reached: [PointHits] = []
    ) {
      self.reached = reached
      self.pruned = pruned
      self.file = file
      self.name = name
      self.engine = engine
      self.depth = depth
      self.space = space
    }
  }
  public let plans: [PlanEntry]
  public let bugs: [String]
  public let shard: Shard
  /// The plans' contents, the build and the plugins it ran (nil in sweeps made in code).
  public var inputs: SweepInputs?
  /// The command's arguments after the program name (`sweep Plans --depth 2 …`, less
  /// `--report-dir` and `--resume`), so `sweep --resume DIR` alone continues it; nil in sweeps
  /// made in code or by an older faultline. Not compared by `mismatches`: how a sweep was asked
  /// for (`--jobs`, `--quiet`) may change between runs; what it sweeps may not.
  public var arguments: [String]?
  /// The working directory `arguments`' relative paths (plans, `--known`, `--rotation`) are
  /// relative to, so a resume from another directory reads the same files; nil as `arguments`.
  public var directory: String?
  public init(
    plans: [PlanEntry], bugs: [String], shard: Shard, inputs: SweepInputs? = nil, arguments: [String]? = nil,
    directory: String? = nil
  ) {
    self.plans = plans
    self.bugs = bugs
    self.shard = shard
    self.inputs = inputs
    self.arguments = arguments
    self.directory = directory
  }

  /// Why a sweep with this meta cannot continue the one `earlier` describes, a sentence per
  /// difference; empty when it can.
  public func mismatches(_ earlier: SweepMeta) -> [String] {
    var earlier = earlier
    earlier.arguments = arguments
    earlier.directory = directory
    guard self != earlier else { return [] }
    var out: [String] = []
    if let now = inputs, let then = earlier.inputs {
      out += now.changes(since: then)
    } else if inputs != earlier.inputs {
      out.append("that sweep was started by a faultline that did not record its inputs")
    }
    if plans.map(\.file) != earlier.plans.map(\.file) {
      out.append("it swept other plan files (\(earlier.plans.map(\.file).joined(separator: ", ")))")
    }
    if bugs != earlier.bugs {
      out.append("it had bugs [\(earlier.bugs.joined(separator: ", "))], now [\(bugs.joined(separator: ", "))]")
    }
    if shard != earlier.shard { out.append("it was shard \(earlier.shard), now \(shard)") }
    if out.isEmpty {
      // Same files, build and arguments, another space: depth, points, actions or errnos differ.
      out.append("its space differs (other --depth, --points, --actions, --errnos or --schedules)")
    }
    return out
  }
}

/// A sweep over several plans: space, shard, journal, executor, aggregation.
public struct SweepDriver {
  public let registry: EngineRegistry
  public init(registry: EngineRegistry) { self.registry = registry }

  /// The depth-1 scenarios of each plan (in plan order, then hit order), indexed across all.
  /// With `schedules > 0`, every scenario is crossed with that many seeded random schedules
  /// (seeds derived from the plan's seed and the scenario's place, so every run picks the same).
  /// `recordings` are the plans' fault-free runs as a worker made them (nil: run them here). A
  /// plan whose recording crashed or hung has its fault-free scenario alone in the space, already
  /// decided: `decided` holds that outcome.
  public func space(
    _ plans: [Plan], configs: [SweepConfig], bugs: [String], schedules: Int = 0, delayBound: Int? = nil,
    recordings: [Recording]? = nil
  ) throws
    -> (scenarios: [[SweepScenario]], pruned: [Int], reached: [[PointHits]], decided: [SweepOutcome])
  {
    let sweeper = Sweeper(registry: registry)
    var all: [[SweepScenario]] = []
    var pruned: [Int] = []
    var reached: [[PointHits]] = []
    var decided: [SweepOutcome] = []
    var index = 0
    for (k, (plan, config)) in zip(plans, configs).enumerated() {
      let recording: Recording
      if let recordings {
        recording = recordings[k]
      } else {
        let (_, placements, prunedHere, reachedHere) = try sweeper.space(plan, config, bugs: bugs)
        recording = .recorded(placements: placements, pruned: prunedHere, reached: reachedHere)
      }
      // Scenario 0 of each plan is its fault-free run (a bug may fail it without any fault).
      let zero = SweepScenario(plan: plan.file, bugs: bugs, placements: [], index: index)
      index += 1
      let placements: [Placement]
      let prunedHere: Int
      let reachedHere: [PointHits]
      switch recording {
      case .recorded(let p, let n, let r): (placements, prunedHere, reachedHere) = (p, n, r)
      case .flaky(let p, let r, let kind, let cause, let detail):
        (placements, prunedHere, reachedHere) = (p, 0, r)
        var o = SweepOutcome(scenario: zero, kind: kind, detail: detail)
        o.cause = cause
        o.flaky = true
        decided.append(o)
      case .failed(let kind, let cause, let detail):
        var o = SweepOutcome(scenario: zero, kind: kind, detail: detail)
        o.cause = cause
        decided.append(o)
        all.append([zero])
        pruned.append(0)
        reached.append([])
        continue
      }
      pruned.append(prunedHere * max(1, schedules))
      reached.append(reachedHere)
      var list = [zero]
      for p in placements {
        list.append(
          SweepScenario(
            plan: plan.file, bugs: bugs, placements: [p], index: index, expand: config.depth >= 2 ? config : nil))
        index += 1
      }
      if let delayBound {
        list = list.map {
          SweepScenario(
            plan: $0.plan, bugs: $0.bugs, placements: $0.placements, index: $0.index, expand: $0.expand,
            delayBound: delayBound)
        }
      }
      if schedules > 0 {
        list = list.flatMap { sc in
          var rng = SplitMix64(seed: plan.seed ^ (UInt64(sc.index) &* 0x9E37_79B9_7F4A_7C15))
          // Below 2^63: plans write seeds as non-negative integers.
          return (0..<schedules).map { _ in sc.scheduled(rng.next() & 0x7FFF_FFFF_FFFF_FFFF) }
        }
      }
      all.append(list)
    }
    return (all, pruned, reached, decided)
  }

  /// Depth-2 children of a finished depth-1 scenario: the second faults its worker placed.
  public func children(of o: SweepOutcome) -> [SweepScenario] {
    let sc = o.scenario
    var out: [SweepScenario] = (o.schedules ?? []).map {
      SweepScenario(
        plan: sc.plan, bugs: sc.bugs, placements: sc.placements, index: sc.index, child: sc.child,
        scheduleSeed: sc.scheduleSeed, prefix: $0, delayBound: sc.delayBound)
    }
    guard let placed = o.children, let first = sc.placements.first else { return out }
    out += placed.enumerated().map { k, p in
      SweepScenario(
        plan: sc.plan, bugs: sc.bugs, placements: [first, p], index: sc.index, child: k, scheduleSeed: sc.scheduleSeed,
        delayBound: sc.delayBound)
    }
    return out
  }

  /// Sweeps `plans` in this process (no journal, no shard): what tests and benchmarks call.
  public func sweepInProcess(_ plans: [Plan], configs: [SweepConfig], bugs: [String] = []) throws -> [PlanResults] {
    let (space, pruned, reached, _) = try self.space(plans, configs: configs, bugs: bugs.sorted())
    let meta = SweepMeta(
      plans: plans.indices.map {
        SweepMeta.PlanEntry(
          file: plans[$0].file, name: plans[$0].name, engine: plans[$0].engine, depth: configs[$0].depth,
          space: space[$0].count, pruned: pruned[$0], reached: reached[$0])
      }, bugs: bugs.sorted(), shard: .all)
    var outcomes: [SweepOutcome] = []
    try InProcessExecutor(registry: registry).run(space.flatMap { $0 }) { o in
      outcomes.append(o)
      return children(of: o)
    }
    return Self.reports(meta: meta, outcomes: outcomes)
  }

  /// Aggregates outcomes into results per plan, in space order, so any run order, any sharding
  /// and any resume give the same results. Holds every scenario in memory: a sweep of the CLI
  /// streams its journal through `SweepReportBuilder` instead.
  public static func reports(meta: SweepMeta, outcomes: [SweepOutcome]) -> [PlanResults] {
    var builder = SweepReportBuilder(meta: meta, catalogs: [:], spill: nil, keepScenarios: true)
    for o in outcomes { try? builder.add(o) }
    return builder.finish().plans
  }
}

extension FailureGroup {
  /// The group with its first scenario's snapshots (after setup, at rest), re-run in this
  /// process to get them: scenarios are deterministic, so it is the run the sweep saw. Left as
  /// it is when the re-run differs or the engine cannot be built.
  public func withSnapshots(_ plan: Plan, bugs: [String], runner: ScenarioRunner) -> FailureGroup {
    guard kind == .judged, let r = result, r.atRest == nil else { return self }
    let schedule: ScheduleSpec? = explored ? .replay(r.choices) : scheduleSeed.map { .random(seed: $0) }
    let options = RunOptions(bugs: bugs, schedule: schedule, faults: placements.map(\.spec))
    guard let again = try? runner.run(plan, options), again.trace == r.trace else { return self }
    var g = self
    var full = r
    full.baseline = again.baseline
    full.atRest = again.atRest
    g.result = full
    return g
  }
}

extension SweepOutcome {
  /// The outcome as a line of results.
  public var entry: ScenarioEntry {
    let outcome: ScenarioEntry.Outcome =
      switch kind {
      case .judged: unjudged == true ? .unjudged : failed ? .failed : .passed
      case .crashed: .crashed
      case .timedOut: .timedOut
      }
    return ScenarioEntry(
      key: scenario.key, index: scenario.index, child: scenario.child, faults: scenario.placements.map(\.description),
      scheduleSeed: scenario.scheduleSeed, explored: scenario.prefix, outcome: outcome,
      signature: failed ? signature : nil, steps: steps, fired: fired ?? [], errors: errors)
  }
}

/// Which failures the journal keeps whole. Reports read one result per signature, the first in
/// space order's; a filesystem's failing results are large (an ext2fs sweep's journal was 490 MB,
/// mostly traces and evidence repeated by thousands of scenarios with one signature). A failure
/// keeps its result when it is the earliest of its signature seen so far, in whatever order
/// scenarios finish; so the earliest of all always does, on resume too (the journal's lines say
/// what was seen). The rest keep their signature.
public struct FirstResults {
  private var first: [String: ScenarioEntry] = [:]

  public init(_ journaled: [SweepOutcome] = []) {
    for o in journaled where o.result != nil { _ = keep(o) }
  }

  /// `o` as the journal and the reports should hold it.
  public mutating func keep(_ o: SweepOutcome) -> SweepOutcome {
    guard o.kind == .judged, o.result != nil else { return o }
    let signature = o.signature
    let key = o.scenario.plan + "\n" + signature
    let e = o.entry
    if let held = first[key], ScenarioEntry.spaceOrder(held, e) { return o.slimmed(signature: signature) }
    first[key] = e
    return o
  }
}

/// The append-only record of a sweep's finished scenarios: one JSON line each, handed to the
/// kernel with write(2) as it finishes, so a sweep killed at any instant (kill -9 included)
/// resumes where it stopped. No fsync: a machine crash may lose the last lines, and resume then
/// runs those scenarios again.
public final class SweepJournal: @unchecked Sendable {
  private let encoder: JSONEncoder

  /// Opens (creating) `url` for appending. A torn last line (a kill mid-write) is cut off first:
  /// appended to, it would join the next outcome into one line that is neither.
  /// - Throws: `ResultsError` "PATH: reason".
  public init(url: URL) throws {
    path = url.path
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ResultsError(message: "\(path): \(IOFailure.text(errno))") }
    encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let end = lseek(fd, 0, SEEK_END)
    guard end > 0 else { return }
    // Back from the end, a block at a time, to the last newline (each pass moves back a block).
    var keep: off_t = 0
    var at = end
    var block = [UInt8](repeating: 0, count: 1 << 16)
    while at > 0 {
      let from = max(0, at - off_t(block.count))
      let n = pread(fd, &block, Int(at - from), from)
      guard n == Int(at - from) else { throw ResultsError(message: "\(path): \(IOFailure.text(n < 0 ? errno : EIO))") }
      if let nl = block[0..<n].lastIndex(of: 0x0A) {
        keep = from + off_t(nl) + 1
        break
      }
      at = from
    }
    if keep < end && ftruncate(fd, keep) != 0 {
      throw ResultsError(message: "\(path): cannot cut off its torn last line (\(IOFailure.text(errno)))")
    }
  }

  private let fd: Int32
  private let path: String

  /// Appends `o` as one line.
  /// - Throws: `ResultsError` "PATH: reason" (a full disk: "No space left on device").
  public func append(_ o: SweepOutcome) throws {
    var line = try o.encoded ?? encoder.encode(o)
    line.append(0x0A)
    let e = IOFailure.writeAll(fd, line)
    if e != 0 { throw ResultsError(message: "\(path): cannot append to the journal (\(IOFailure.text(e)))") }
  }

  deinit { close(fd) }

  /// The outcomes a journal holds; a torn last line (a kill mid-write) is ignored.
  public static func read(_ url: URL) -> [SweepOutcome] {
    var out: [SweepOutcome] = []
    try? forEach(url) { out.append($0) }
    return out
  }

  /// Hands each outcome of a journal to `body`, reading it a chunk at a time (a journal may be
  /// larger than memory); a line that does not decode (a torn last line) is skipped. A journal
  /// that does not exist has none.
  public static func forEach(_ url: URL, _ body: (SweepOutcome) throws -> Void) throws {
    let fd = open(url.path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      if errno == ENOENT { return }
      throw ResultsError(message: "\(url.path): cannot read (\(String(cString: strerror(errno))))")
    }
    defer { close(fd) }
    let dec = JSONDecoder()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var start = 0
    var end = 0
    var searched = 0
    while true {
      if let nl = buffer[searched..<end].firstIndex(of: 0x0A) {
        if nl > start, let o = try? dec.decode(SweepOutcome.self, from: Data(buffer[start..<nl])) { try body(o) }
        start = nl + 1
        searched = start
        continue
      }
      // Keep the partial line at the front; grow for a line longer than the buffer.
      if start > 0 {
        buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
        end -= start
        start = 0
      }
      searched = end
      if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + end, $0.count - end) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw ResultsError(message: "\(url.path): cannot read (\(String(cString: strerror(errno))))") }
      if n == 0 { return }
      end += n
    }
  }
}
