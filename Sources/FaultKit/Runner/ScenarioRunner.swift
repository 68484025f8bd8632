/// Options for one scenario beyond what the plan says.
public struct RunOptions: Sendable {
  /// Bug switches to turn on, on top of the plan's own.
  public var bugs: [String]
  /// Overrides the plan's seed (random schedules and probability triggers without their own seed).
  public var seed: UInt64?
  /// Overrides the plan's schedule.
  public var schedule: ScheduleSpec?
  /// Overrides the plan's faults (sweeps place their own).
  public var faults: [FaultSpec]?
  /// A schedule as choice indexes (exhaustive exploration); overrides `schedule`.
  public var prefix: [Int]?
  /// The at-rest snapshot of the same scenario without faults: when given, the result also
  /// carries the diff from it (what the fault changed, as opposed to what the plan did).
  public var faultFree: Snapshot?
  /// The faults are a sweep's placements at hits of a recorded run: one that never fires means
  /// the run diverged from the recording, and the scenario is unjudged (it did not test it).
  public var placementsMustFire = false
  public init(
    bugs: [String] = [], seed: UInt64? = nil, schedule: ScheduleSpec? = nil, faults: [FaultSpec]? = nil,
    faultFree: Snapshot? = nil
  ) {
    self.bugs = bugs
    self.seed = seed
    self.schedule = schedule
    self.faults = faults
    self.faultFree = faultFree
  }
}

/// A scenario could not be set up (the engine rejected its setup): bad input, not a finding.
public struct SetupError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// Runs one scenario: setup → baseline snapshot → tasks under the scheduler, judging invariants
/// after each operation that saw an injected failure and at rest → recover → data oracle → result.
public struct ScenarioRunner: Sendable {
  public let registry: EngineRegistry
  public init(registry: EngineRegistry) { self.registry = registry }

  /// - Throws: `SetupError` when the engine is unknown or its setup fails.
  public func run(_ plan: Plan, _ options: RunOptions = RunOptions()) throws -> ScenarioResult {
    try execute(plan, options).result
  }

  /// The at-rest snapshot of `plan` run with no fault at all (same bugs, seed and schedule): the
  /// reference `RunOptions.faultFree` diffs against.
  public func faultFreeSnapshot(_ plan: Plan, _ options: RunOptions = RunOptions()) throws -> Snapshot {
    var o = options
    o.faults = []
    o.faultFree = nil
    return try execute(plan, o).atRest
  }

  /// Runs a scenario and also returns every hit of every point, in order: the fault space a
  /// sweep places faults in.
  public func runRecordingHits(_ plan: Plan, _ options: RunOptions = RunOptions()) throws -> (ScenarioResult, [Hit]) {
    let r = try execute(plan, options)
    return (r.result, r.hits)
  }

  /// Runs a scenario and returns how many tasks could run at each point with a choice, for
  /// exhaustive exploration of its schedules.
  public func runRecordingChoices(_ plan: Plan, _ options: RunOptions) throws -> (ScenarioResult, [Hit], [Int]) {
    let r = try execute(plan, options)
    return (r.result, r.hits, r.counts)
  }

  private func execute(_ plan: Plan, _ options: RunOptions) throws -> (
    result: ScenarioResult, atRest: Snapshot, hits: [Hit], counts: [Int]
  ) {
    guard let engineDesc = registry.descriptor(named: plan.engine) else {
      throw SetupError(message: "\(plan.file): unknown engine \(plan.engine)")
    }
    let seed = options.seed ?? plan.seed
    var schedule = options.schedule ?? plan.schedule
    if options.seed != nil, case .random = schedule { schedule = .random(seed: seed) }
    let placed = options.faults ?? plan.faults
    let faults = placed + plan.preemptions
    let bugs = Array(Set(plan.bugs + options.bugs)).sorted()
    let checkedNames = plan.expect.invariants ?? engineDesc.invariants
    let checks = engineDesc.checks(for: checkedNames)

    let trace = Trace()
    let policy: any SchedulePolicy = options.prefix.map { PrefixPolicy($0) } ?? schedule.makePolicy()
    let scheduler = Scheduler(policy: policy, stepLimit: plan.limits.steps, trace: trace)
    let injector = Injector(catalog: engineDesc.catalog, faults: faults)
    let harness = Harness(scheduler: scheduler, injector: injector)
    let errseq = ErrseqOracle(harness: harness)
    let opErrors = OpErrorJudge()
    let engine = try engineDesc.make(EngineContext(setup: plan.setup, bugs: Set(bugs), harness: harness))
    defer { scheduler.abortAll() }
    let state = Box(RunState())
    /// Errors tasks ended with (an engine worker's, a harness phase's): each one unjudged.
    func collectTaskErrors(_ moment: String) {
      for e in scheduler.takeTaskErrors() {
        let who = e.kind == .worker ? "worker \(e.task)" : e.task
        state.value.unjudged.append(
          Unjudged(.engineError, moment: moment, "\(who) ended with an error that is no errno: \(e.error)"))
      }
    }
    /// The engine's state at `moment`, or nil (recorded as unjudged) when it cannot say it.
    @Sendable func snapshot(_ moment: String) -> Snapshot? {
      do {
        let s = try engine.snapshot()
        for what in s.unreadable {
          state.value.unjudged.append(Unjudged(.snapshotIncomplete, moment: moment, "the snapshot left out \(what)"))
        }
        return s
      } catch let e as UnreadableState {
        state.value.unjudged.append(e.at(moment))
      } catch {
        state.value.unjudged.append(Unjudged(.engineError, moment: moment, "snapshot failed: \(error)"))
      }
      return nil
    }

    // Setup, with no fault armed. An errno is bad input (the engine rejects the setup); anything
    // else leaves the scenario unjudged.
    let setupFailure = Box<String?>(nil)
    scheduler.spawn("setup", kind: .harness) {
      do { try await engine.setup() } catch let e as FSError { setupFailure.value = "\(e)" }
    }
    let setupStop = scheduler.run()
    if let f = setupFailure.value { throw SetupError(message: "\(plan.file): engine setup failed: \(f)") }
    collectTaskErrors("setup")
    guard setupStop == .quiescent, state.value.unjudged.isEmpty else {
      if setupStop != .quiescent && state.value.unjudged.isEmpty {
        throw SetupError(message: "\(plan.file): engine setup did not finish (\(setupStop))")
      }
      let r = ScenarioResult(
        plan: plan.name, file: plan.file, engine: plan.engine, bugs: bugs, seed: seed, schedule: schedule.description,
        faults: faults.map(\.description), ops: [], violations: [], fired: [], stop: setupStop.word, steps: 0,
        choices: scheduler.choices, invariantsChecked: checkedNames, diffAtRest: [], diffFromFaultFree: nil,
        trace: trace.events.map(\.line), firstFaultAt: nil, unjudged: state.value.unjudged)
      return (r, Snapshot(), [], [])
    }
    let baselineRead = snapshot("after setup")
    let baseline = baselineRead ?? Snapshot()
    // The data oracle starts from what setup made (committed, so durable): from the device where
    // the engine can say its blocks (`StoredContents`), so setup's files stay as cold as setup
    // left them; read back through the engine where it cannot.
    let wantsCache = checkedNames.contains(.errorsReported)
    let wantsDurable = checkedNames.contains(.dataDurable)
    let oracleOn = (wantsCache || wantsDurable) && baselineRead != nil
    if oracleOn {
      // The files the plan names are its data; what an engine's setup makes for itself (ext2fs's
      // fragmentation file, lost+found) is not, and reading it whole three times a scenario was
      // most of an ext2fs sweep's time.
      let named = Self.namedPaths(plan)
      let files = baseline.files.filter { named.contains($0.path) }
      var contents: [String: Result<[UInt8], FSError>] = [:]
      for f in files where f.size > 0 {
        if let bytes = StoredContents.read(f.path, size: f.size, in: baseline, block: engine.blockBytes) {
          contents[f.path] = .success(bytes)
        }
      }
      let unsaid = files.filter { $0.size > 0 && contents[$0.path] == nil }.map(\.path)
      contents.merge(readAll(unsaid, engine, scheduler)) { stored, _ in stored }
      collectTaskErrors("reading the files setup made")
      for f in files {
        if f.size > 0 && contents[f.path] == nil {
          // The read did not finish (a hang, the step bound): the oracle would start from nothing.
          state.value.unjudged.append(
            Unjudged(
              .engineError, moment: "after setup", "reading \(f.path) back after setup did not finish"))
        }
        guard case .success(let bytes) = contents[f.path] ?? .success([]) else {
          throw SetupError(message: "\(plan.file): reading \(f.path) back after setup failed")
        }
        state.value.oracle.seed(path: f.path, contents: bytes, durable: true)
      }
    }

    // The plan's tasks.
    let checkReads = oracleOn && wantsCache
    let watchFixup = engineDesc.writebackSkipsPagesAwaitingFixup
    let workerNames = Set(engineDesc.workers.map(\.name))
    let maxFileSize = engineDesc.maxFileSize(plan.setup)
    var opsBefore = 0
    for task in plan.tasks {
      let taskName = task.name
      let firstGeneration = opsBefore
      opsBefore += task.ops.count
      scheduler.spawn(taskName, kind: .plan) {
        for (i, planned) in task.ops.enumerated() {
          var op = planned
          op.generation = UInt32(truncatingIfNeeded: firstGeneration + i + 1)
          scheduler.beginOp(op.kind.rawValue)
          trace.append(.opStart(task: taskName, op: i + 1, what: op.description))
          let firedBefore = injector.fired.count
          errseq.begin(task: taskName)
          var outcome = OpOutcome.ok
          // The data oracle judges every read the plan makes, against the file as it was while
          // the read ran (other tasks may write it meanwhile).
          // A range no file can have is answered as the VFS answers it, before the engine: an
          // engine's arithmetic need not survive it, and nothing changed for the oracle to follow.
          let refused = OperationRange.refusal(op, maxFileSize: maxFileSize)
          if checkReads && refused == nil {
            state.value.openReads(taskName, op)
            if watchFixup && op.kind == .dioRead, let s = snapshot("before \(taskName) op \(i + 1) (dio-read)") {
              state.value.reads[taskName]?.noteAwaitingFixup(s)
            }
          }
          var returned: [UInt8]?
          do {
            if let refused { throw FSError(refused.errno) }
            returned = try await engine.perform(op)
          } catch let e where e.fsError != nil {
            outcome = .error(e.fsError!)
          } catch let cut as PowerCut {
            // The power went after this operation (or before it, when another task's cut it):
            // the task stops here.
            scheduler.endOp()
            state.value.powerCut = true
            state.value.outcomes[taskName, default: []].append(cut.outcome)
            if cut.outcome.status != .powerCut {
              // The operation itself completed before the cut: judged as any other.
              if checkReads, let w = state.value.closeReads(taskName), cut.outcome.status == .ok,
                let got = cut.returned,
                let v = state.value.oracle.checkRead(
                  op, got, w, moment: "after \(taskName) op \(i + 1) (\(op.kind.rawValue)) returned")
              {
                state.value.violations.append(v)
              }
              state.value.oracle.record(op, cut.outcome)
              errseq.end(task: taskName, index: i + 1, op: op, outcome: cut.outcome)
              opErrors.ended(
                task: taskName, index: i + 1, op: op, outcome: cut.outcome,
                faultBefore: injector.fired.contains { !$0.decision.hasPrefix("yield") })
            }
            trace.append(.opEnd(task: taskName, op: i + 1, outcome: cut.outcome.description))
            _ = state.value.closeReads(taskName)
            return
          } catch is ScenarioAbort {
            // The scenario is being torn down around this operation (a hang, the step bound).
            scheduler.endOp()
            state.value.outcomes[taskName, default: []].append(
              OpOutcome(status: scheduler.stop == nil ? .hung : .stopped))
            return
          } catch {
            // Not an errno: the operation's outcome is unknown, so is what it did to the data.
            outcome = OpOutcome(status: .engineError)
            state.value.unjudged.append(
              Unjudged(
                .engineError, moment: "\(taskName) op \(i + 1) (\(op.kind.rawValue))",
                "the operation ended with an error that is no errno: \(error)"))
          }
          scheduler.endOp()
          state.value.outcomes[taskName, default: []].append(outcome)
          // A read that returned no bytes returned an empty range (never "not checked").
          let got = returned ?? []
          // Pages the read's own flush marked for fixup (the worker may have run since: not all).
          if checkReads && watchFixup && op.kind == .dioRead && state.value.reads[taskName] != nil,
            let s = snapshot("after \(taskName) op \(i + 1) (dio-read)")
          {
            state.value.reads[taskName]?.noteAwaitingFixup(s)
          }
          if checkReads, let w = state.value.closeReads(taskName), outcome.status == .ok,
            let v = state.value.oracle.checkRead(
              op, got, w, moment: "after \(taskName) op \(i + 1) (\(op.kind.rawValue)) returned")
          {
            state.value.violations.append(v)
          }
          // The data oracle follows completion order: with several tasks, that is the order in
          // which their effects landed.
          if refused == nil { state.value.oracle.record(op, outcome) }
          errseq.end(task: taskName, index: i + 1, op: op, outcome: outcome)
          opErrors.ended(
            task: taskName, index: i + 1, op: op, outcome: outcome,
            faultBefore: injector.fired.contains { !$0.decision.hasPrefix("yield") })
          trace.append(.opEnd(task: taskName, op: i + 1, outcome: outcome.description))
          // A failure injected during this op: in this task, or in a worker doing work for it.
          let sawFailure = injector.fired[firedBefore...].contains {
            !$0.decision.hasPrefix("yield") && ($0.task == taskName || workerNames.contains($0.task))
          }
          if sawFailure && baselineRead != nil {
            let moment = Moment.afterFailedOp(
              task: taskName, op: i + 1, opName: op.kind.rawValue, succeeded: outcome.status == .ok)
            if let now = snapshot(moment.description) {
              let ctx = InvariantContext(
                moment: moment, baseline: baseline, current: now, diff: SnapshotDiff(from: baseline, to: now),
                tasks: scheduler.statuses, stop: nil)
              state.value.violations += checks.flatMap { $0.check(ctx) }
            }
          }
        }
      }
    }
    // Tasks (and workers) a pinned preemption switches to wait for it.
    for p in plan.preemptions {
      if case .yield(let to?) = p.action { scheduler.hold(to) }
    }
    scheduler.resetSteps()
    harness.injecting = true
    let stop = scheduler.run()
    let planSteps = scheduler.steps  // the oracle and recover phases count their own
    harness.injecting = false
    collectTaskErrors("during the plan")

    // At rest (finished or hung): judge the state.
    var atRestRead = baselineRead == nil ? nil : snapshot(Moment.atRest.description)
    if checkedNames.contains(.pagecacheCoherent), atRestRead != nil {
      let missing = PagecacheAgreement.mark(&atRestRead!, pageBytes: engine.pageBytes, blockBytes: engine.blockBytes)
      state.value.unjudged += missing.map {
        Unjudged(.snapshotIncomplete, moment: Moment.atRest.description, "pagecache-coherent could not read \($0)")
      }
    }
    let atRest = atRestRead ?? baseline
    let diff = SnapshotDiff(from: baseline, to: atRest)
    var violations = state.value.violations
    if atRestRead != nil {
      let restCtx = InvariantContext(
        moment: .atRest, baseline: baseline, current: atRest, diff: diff, tasks: scheduler.statuses, stop: stop)
      violations += checks.flatMap { $0.check(restCtx) }
    }
    violations += opErrors.judged {
      guard !(options.faults ?? plan.faults).isEmpty else { return nil }
      do {
        return try FaultFreeErrnos.shared.errnos(plan, options) {
          var o = options
          o.faults = []
          o.faultFree = nil
          return Set(
            try execute(plan, o).result.ops.compactMap { $0.outcome.status == .error ? $0.outcome.errno : nil })
        }
      } catch {
        state.value.unjudged.append(
          Unjudged(
            .engineError, moment: "the run without faults",
            "an error with no fault before it needs the plan's run without faults to judge, and it failed: \(error)"))
        return nil
      }
    }

    let ops = opRecords(plan, state.value.outcomes, stop, powerCut: state.value.powerCut)
    let unfired = unfiredFaults(plan, placed, injector, engineDesc.catalog)
    if options.placementsMustFire {
      state.value.unjudged += unfired.map {
        Unjudged(
          .placement, moment: "during the plan",
          "\($0.fault) never fired (\($0.reached)): the run diverged from the recorded one")
      }
    }

    // Data oracle: the cache before recover (only if nothing hung: a hung file cannot be read),
    // then crash, recover and read back from the device.
    let oracle = state.value.oracle
    if wantsCache { violations += errseq.violations }
    // After a power cut the cache is gone: what the disk kept is judged after recover.
    if stop == .quiescent && wantsCache && oracleOn && !state.value.powerCut {
      let reads = readAll(oracle.paths, engine, scheduler)
      collectTaskErrors("the oracle's reads before recover")
      violations += unfinished(oracle.paths, reads, .errorsReported)
      violations += oracle.checkCache(only: Set(reads.keys)) { reads[$0]! }
    }
    scheduler.abortAll()
    if engineDesc.verifies {
      let found = Box<[Finding]>([])
      scheduler.resetSteps()
      scheduler.spawn("verify", kind: .harness) {
        do {
          found.value = try await engine.verify()
        } catch let e as UnreadableState {
          state.value.unjudged.append(e.at("verify"))
        }
      }
      scheduler.run()
      collectTaskErrors("verify")
      violations += found.value.filter { checkedNames.contains($0.invariant) }.map {
        Violation($0.invariant, moment: .atRest, $0.message, evidence: $0.evidence)
      }
    }
    if wantsDurable && oracleOn {
      let recovered = Box<String?>(nil)
      scheduler.resetSteps()
      scheduler.spawn("recover", kind: .harness) {
        do { try await engine.recover() } catch let e as FSError { recovered.value = "\(e)" }
      }
      scheduler.run()
      let unjudgedBefore = state.value.unjudged.count
      collectTaskErrors("recover")
      if let e = recovered.value {
        violations.append(Violation(.dataDurable, moment: .atRest, "recover failed: \(e)"))
      } else if state.value.unjudged.count == unjudgedBefore {
        let reads = readAll(oracle.paths, engine, scheduler)
        collectTaskErrors("the oracle's reads after recover")
        violations += unfinished(oracle.paths, reads, .dataDurable)
        violations += oracle.checkDurable(
          only: Set(reads.keys), allowedLoss: { trace.append(.note("oracle: \($0)")) }
        ) { reads[$0]! }
      }
    }
    state.value.unjudged += harness.reportedUnjudged
    if let d = scheduler.policyDivergence {
      state.value.unjudged.append(
        Unjudged(.schedule, moment: "the schedule", "the replayed schedule diverged from the recorded one: \(d)"))
    }

    let lines = trace.events.map(\.line)
    // Anchor the report on the first injected failure; a pinned yield is only the schedule.
    let firstFault =
      trace.events.firstIndex {
        if case .hit(let h) = $0 { h.fault != nil && !h.decision.hasPrefix("yield") } else { false }
      }
      ?? trace.events.firstIndex { if case .hit(let h) = $0 { h.fault != nil } else { false } }
    let result = ScenarioResult(
      plan: plan.name, file: plan.file, engine: plan.engine, bugs: bugs, seed: seed, schedule: schedule.description,
      faults: faults.map(\.description), ops: ops, violations: violations, fired: injector.fired,
      stop: stop.word, steps: planSteps, choices: scheduler.choices, invariantsChecked: checkedNames,
      diffAtRest: diff.lines.map(\.text),
      diffFromFaultFree: options.faultFree.map { SnapshotDiff(from: $0, to: atRest).lines.map(\.text) },
      trace: lines, firstFaultAt: firstFault, baseline: baseline, atRest: atRest,
      unjudged: state.value.unjudged, unfired: options.placementsMustFire ? [] : unfired)
    return (result, atRest, injector.hits, scheduler.choiceCounts)
  }

  /// Each plan operation's outcome against the plan's expectation. An operation whose outcome
  /// is unknown (the engine threw no errno) is not held against the plan: it is unjudged.
  private func opRecords(_ plan: Plan, _ outcomes: [String: [OpOutcome]], _ stop: StopReason, powerCut: Bool)
    -> [OpRecord]
  {
    var ops: [OpRecord] = []
    for task in plan.tasks {
      let got = outcomes[task.name] ?? []
      for (i, op) in task.ops.enumerated() {
        let outcome: OpOutcome
        if i < got.count {
          outcome = got[i]
        } else if powerCut {
          outcome = OpOutcome(status: .powerCut)
        } else if i == got.count && stop != .quiescent {
          outcome = OpOutcome(status: stop == .hang ? .hung : .stopped)
        } else {
          outcome = OpOutcome(status: .notRun)
        }
        let expected = plan.expect.outcome(task: task.name, index: i, kind: op.kind)
        ops.append(
          OpRecord(
            task: task.name, index: i + 1, op: op.description, outcome: outcome, expected: expected.description,
            asExpected: outcome.status == .engineError || outcome.status == .powerCut || expected.admits(outcome)))
      }
    }
    return ops
  }

  /// The placed faults (not pinned preemptions) that never fired, with how often their point was
  /// reached. `required` when the plan expects its faults to fire (the default for a plan's own
  /// faults); a sweep's placements are the caller's business (`placementsMustFire`: unjudged).
  private func unfiredFaults(_ plan: Plan, _ placed: [FaultSpec], _ injector: Injector, _ catalog: FaultCatalog)
    -> [UnfiredFault]
  {
    let fired = Set(injector.fired.compactMap(\.fault))
    let required = plan.expect.faultsMustFire ?? true
    return placed.indices.filter { !fired.contains($0) }.map { i in
      let f = placed[i]
      let n = catalog.index(of: f.point).map { injector.count(FaultPointID($0)) } ?? 0
      let reached =
        n == 0 ? "\(f.point) was never reached" : "\(f.point) was reached \(n) time\(n == 1 ? "" : "s")"
      return UnfiredFault(fault: "fault \(i + 1) (\(f))", reached: reached, required: required)
    }
  }

  /// The paths a plan names: its setup's `files` (the convention every engine's setup follows)
  /// and every operation's path and target.
  static func namedPaths(_ plan: Plan) -> Set<String> {
    var out = Set<String>()
    if case .map(let entries, _)? = plan.setup,
      case .seq(let files, _)? = entries.first(where: { $0.key == "files" })?.value
    {
      for f in files {
        guard case .map(let fe, _) = f, case .scalar(let p, _)? = fe.first(where: { $0.key == "path" })?.value else {
          continue
        }
        out.insert(p)
      }
    }
    for t in plan.tasks {
      for op in t.ops where op.kind != .control {
        out.insert(op.path)
        if let target = op.target { out.insert(target) }
      }
    }
    return out
  }

  /// Reads each path whole through the engine, in a harness task with its own step budget. A
  /// path whose read did not finish (a hang, the step bound) is left out of the answer.
  private func readAll(_ paths: [String], _ engine: any Engine, _ scheduler: Scheduler) -> [String: Result<
    [UInt8], FSError
  >] {
    let out = Box<[String: Result<[UInt8], FSError>]>([:])
    scheduler.resetSteps()
    scheduler.spawn("oracle", kind: .harness) {
      for p in paths {
        scheduler.beginOp("read")
        do {
          out.value[p] = .success(try await engine.perform(Operation(.read, path: p)) ?? [])
        } catch let e as FSError {
          out.value[p] = .failure(e)
        }
        scheduler.endOp()
      }
    }
    if scheduler.run() != .quiescent { scheduler.abortAll() }
    return out.value
  }
}

/// The oracle's reads that did not finish: a hang or the step bound in the read path itself.
private func unfinished(_ paths: [String], _ reads: [String: Result<[UInt8], FSError>], _ name: InvariantName)
  -> [Violation]
{
  paths.filter { reads[$0] == nil }.map {
    Violation(
      name, moment: .atRest,
      "the oracle's read of \($0) did not finish (it hung or passed the step bound): the data could not be checked")
  }
}

struct RunState {
  var outcomes: [String: [OpOutcome]] = [:]
  var violations: [Violation] = []
  var unjudged: [Unjudged] = []
  var oracle = DataOracle()
  /// Each task's operation in flight, and the read windows open (for `DataOracle.checkRead`).
  var inFlight: [String: Operation] = [:]
  var reads: [String: DataOracle.ReadWindow] = [:]
  /// A `crash` fault cut the power: the tasks stopped, the cache is gone.
  var powerCut = false

  /// `task` begins `op`: a read opens its window over what other tasks have in flight; any
  /// operation joins the windows other tasks have open.
  mutating func openReads(_ task: String, _ op: Operation) {
    for t in reads.keys where t != task { reads[t]!.overlaps(op) }
    if op.kind == .read || op.kind == .dioRead {
      let others = inFlight.filter { $0.key != task }.map(\.value)
      reads[task] = oracle.beginRead(op.path, inFlight: others)
    }
    inFlight[task] = op
  }

  /// `task`'s operation returned: its read window, if it had one.
  mutating func closeReads(_ task: String) -> DataOracle.ReadWindow? {
    inFlight[task] = nil
    return reads.removeValue(forKey: task)
  }
}

/// A mutable cell tasks of one scenario share (they all run on one thread).
final class Box<T>: @unchecked Sendable {
  var value: T
  init(_ value: T) { self.value = value }
}

extension StopReason {
  public var word: String {
    switch self {
    case .quiescent: "quiescent"
    case .hang: "hang"
    case .stepBound: "step-bound"
    }
  }
}
