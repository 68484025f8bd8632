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
    let faults = (options.faults ?? plan.faults) + plan.preemptions
    let bugs = Array(Set(plan.bugs + options.bugs)).sorted()
    let checkedNames = plan.expect.invariants ?? engineDesc.invariants
    let checks = engineDesc.checks(for: checkedNames)

    let trace = Trace()
    let policy: any SchedulePolicy = options.prefix.map { PrefixPolicy($0) } ?? schedule.makePolicy()
    let scheduler = Scheduler(policy: policy, stepLimit: plan.limits.steps, trace: trace)
    let injector = Injector(catalog: engineDesc.catalog, faults: faults)
    let harness = Harness(scheduler: scheduler, injector: injector)
    let engine = try engineDesc.make(EngineContext(setup: plan.setup, bugs: Set(bugs), harness: harness))
    defer { scheduler.abortAll() }

    // Setup, with no fault armed.
    let setupFailure = Box<String?>(nil)
    scheduler.spawn("setup", kind: .harness) {
      do { try await engine.setup() } catch let e as FSError { setupFailure.value = "\(e)" }
    }
    let setupStop = scheduler.run()
    if let f = setupFailure.value { throw SetupError(message: "\(plan.file): engine setup failed: \(f)") }
    guard setupStop == .quiescent else {
      throw SetupError(message: "\(plan.file): engine setup did not finish (\(setupStop))")
    }
    let baseline = engine.snapshot()
    // The data oracle starts from what setup made (committed, so durable): read back once.
    let state = Box(RunState())
    if checkedNames.contains(.dataDurable) || checkedNames.contains(.errorsReported) {
      let withData = baseline.files.filter { $0.size > 0 }.map(\.path)
      let contents = readAll(withData, engine, scheduler)
      for f in baseline.files {
        guard case .success(let bytes) = contents[f.path] ?? .success([]) else {
          throw SetupError(message: "\(plan.file): reading \(f.path) back after setup failed")
        }
        state.value.oracle.seed(path: f.path, contents: bytes, durable: true)
      }
    }

    // The plan's tasks.
    let workerNames = Set(engineDesc.workers.map(\.name))
    for task in plan.tasks {
      let taskName = task.name
      scheduler.spawn(taskName, kind: .plan) {
        for (i, op) in task.ops.enumerated() {
          scheduler.beginOp(op.kind.rawValue)
          trace.append(.opStart(task: taskName, op: i + 1, what: op.description))
          let firedBefore = injector.fired.count
          var outcome = OpOutcome.ok
          var aborted = false
          do {
            _ = try await engine.perform(op)
          } catch let e where e.fsError != nil {
            outcome = .error(e.fsError!)
          } catch {
            // ScenarioAbort: the scenario is being torn down around this operation.
            aborted = true
            outcome = OpOutcome(status: scheduler.stop == nil ? .hung : .stopped)
          }
          scheduler.endOp()
          state.value.outcomes[taskName, default: []].append(outcome)
          if aborted { return }
          // The data oracle follows completion order: with several tasks, that is the order in
          // which their effects landed.
          state.value.oracle.record(op, outcome)
          trace.append(.opEnd(task: taskName, op: i + 1, outcome: outcome.description))
          // A failure injected during this op: in this task, or in a worker doing work for it.
          let sawFailure = injector.fired[firedBefore...].contains {
            !$0.decision.hasPrefix("yield") && ($0.task == taskName || workerNames.contains($0.task))
          }
          if sawFailure {
            let now = engine.snapshot()
            let moment = Moment.afterFailedOp(
              task: taskName, op: i + 1, opName: op.kind.rawValue, succeeded: outcome.status == .ok)
            let ctx = InvariantContext(
              moment: moment, baseline: baseline, current: now, diff: SnapshotDiff(from: baseline, to: now),
              tasks: scheduler.statuses, stop: nil)
            state.value.violations += checks.flatMap { $0.check(ctx) }
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

    // At rest (finished or hung): judge the state.
    let atRest = engine.snapshot()
    let diff = SnapshotDiff(from: baseline, to: atRest)
    let restCtx = InvariantContext(
      moment: .atRest, baseline: baseline, current: atRest, diff: diff, tasks: scheduler.statuses, stop: stop)
    var violations = state.value.violations + checks.flatMap { $0.check(restCtx) }

    // Operation outcomes against expectations.
    let oracle = state.value.oracle
    var ops: [OpRecord] = []
    for task in plan.tasks {
      let got = state.value.outcomes[task.name] ?? []
      for (i, op) in task.ops.enumerated() {
        let outcome: OpOutcome
        if i < got.count {
          outcome = got[i]
        } else if i == got.count && stop != .quiescent {
          outcome = OpOutcome(status: stop == .hang ? .hung : .stopped)
        } else {
          outcome = OpOutcome(status: .notRun)
        }
        let expected = plan.expect.outcome(task: task.name, index: i, kind: op.kind)
        ops.append(
          OpRecord(
            task: task.name, index: i + 1, op: op.description, outcome: outcome, expected: expected.description,
            asExpected: expected.admits(outcome)))
      }
    }

    // Data oracle: the cache before recover (only if nothing hung: a hung file cannot be read),
    // then crash, recover and read back from the device.
    let wantsCache = checkedNames.contains(.errorsReported)
    let wantsDurable = checkedNames.contains(.dataDurable)
    if stop == .quiescent && wantsCache {
      let reads = readAll(oracle.paths, engine, scheduler)
      violations += unfinished(oracle.paths, reads, .errorsReported)
      violations += oracle.checkCache(only: Set(reads.keys)) { reads[$0]! }
    }
    scheduler.abortAll()
    if engineDesc.verifies {
      let found = Box<[Finding]>([])
      scheduler.resetSteps()
      scheduler.spawn("verify", kind: .harness) { found.value = await engine.verify() }
      scheduler.run()
      violations += found.value.filter { checkedNames.contains($0.invariant) }.map {
        Violation($0.invariant, moment: .atRest, $0.message, evidence: $0.evidence)
      }
    }
    if wantsDurable {
      let recovered = Box<String?>(nil)
      scheduler.resetSteps()
      scheduler.spawn("recover", kind: .harness) {
        do { try await engine.recover() } catch let e as FSError { recovered.value = "\(e)" }
      }
      scheduler.run()
      if let e = recovered.value {
        violations.append(Violation(.dataDurable, moment: .atRest, "recover failed: \(e)"))
      } else {
        let reads = readAll(oracle.paths, engine, scheduler)
        violations += unfinished(oracle.paths, reads, .dataDurable)
        violations += oracle.checkDurable(only: Set(reads.keys)) { reads[$0]! }
      }
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
      trace: lines, firstFaultAt: firstFault, baseline: baseline, atRest: atRest)
    return (result, atRest, injector.hits, scheduler.choiceCounts)
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
  var oracle = DataOracle()
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
