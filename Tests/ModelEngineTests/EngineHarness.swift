import FaultKit

/// One model engine instance under a FIFO scheduler, set up, for tests that look inside it.
struct EngineUnderTest {
  let engine: any Engine
  let harness: Harness

  /// Builds `descriptor`'s engine with the default setup (or `setup`) and runs its setup.
  init(
    _ descriptor: EngineDescriptor, setup: PlanValue? = nil, bugs: Set<String> = [], faults: [FaultSpec] = []
  ) throws {
    let scheduler = Scheduler(policy: FIFOPolicy(), stepLimit: 100_000, trace: Trace())
    harness = Harness(scheduler: scheduler, injector: Injector(catalog: descriptor.catalog, faults: faults))
    let engine = try descriptor.make(EngineContext(setup: setup, bugs: bugs, harness: harness))
    self.engine = engine
    scheduler.spawn("setup", kind: .harness) { try await engine.setup() }
    _ = scheduler.run()
    // Faults count from the first operation on, as in a plan run (setup hits none).
    harness.injecting = !faults.isEmpty
  }

  /// Runs `ops` in order as one plan task named `task`; returns each op's error, nil for success.
  @discardableResult
  func perform(_ ops: [Operation], task: String = "app") -> [FSError?] {
    final class Out: @unchecked Sendable { var errors: [FSError?] = [] }
    let out = Out()
    let engine = engine
    let scheduler = harness.scheduler
    scheduler.spawn(task, kind: .plan) {
      for op in ops {
        scheduler.beginOp(op.kind.rawValue)
        do {
          _ = try await engine.perform(op)
          out.errors.append(nil)
        } catch let e as FSError {
          out.errors.append(e)
        }
        scheduler.endOp()
      }
    }
    _ = scheduler.run()
    return out.errors
  }

  /// Crash and remount (`Engine.recover`), as the runner does after a plan (no fault fires).
  func recover() {
    harness.injecting = false
    let engine = engine
    harness.scheduler.spawn("recover", kind: .harness) { try await engine.recover() }
    _ = harness.scheduler.run()
  }

  /// The shared invariant `check` judges the snapshot now, at rest, against `baseline`.
  func judge(_ check: any Invariant, baseline: Snapshot = Snapshot()) -> [Violation] {
    let now = try! engine.snapshot()
    return check.check(
      InvariantContext(
        moment: .atRest, baseline: baseline, current: now, diff: SnapshotDiff(from: baseline, to: now),
        tasks: harness.scheduler.statuses, stop: .quiescent))
  }
}
