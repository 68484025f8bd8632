import Testing

@testable import FaultKit

/// An engine with a worker, for the loader checks that involve workers and preemptions.
private let workerEngine = EngineDescriptor(
  name: "worker-model", about: "an engine with a worker",
  catalog: FaultCatalog([
    FaultPoint("reserve.data", kind: .reserve, errnos: [.noSpace], about: "reservation"),
    FaultPoint("worker.queued", kind: .worker, errnos: [], actions: [.yield], about: "work queued"),
  ]),
  operations: [.write, .fsync], bugs: [],
  workers: [WorkerInfo("fixer", ops: ["fixup"])],
  invariants: [.noHang],
  checkSetup: { _ in },
  make: { _ in fatalError("the loader never builds an engine") })

private let loader = PlanLoader(registry: EngineRegistry([workerEngine]))

private let base = """
  plan: p
  engine: worker-model
  tasks:
    - name: app
      ops:
        - fsync: { path: /a }
    - name: other
      ops:
        - fsync: { path: /a }

  """

@Suite("Plan loader: workers and preemptions")
struct PlanPreemptTests {
  @Test("schedule.preempt becomes a yield to its target at the nth hit, by the given task")
  func preempt() throws {
    let plan = try loader.parse(
      base + """
        schedule:
          policy: random
          seed: 5
          preempt:
            - { at: worker.queued, nth: 2, to: other, task: app }
            - { at: reserve.data, to: fixer }
        """, file: "t.yaml")
    #expect(plan.schedule == .random(seed: 5))
    #expect(
      plan.preemptions == [
        FaultSpec(point: "worker.queued", trigger: .nth(2), action: .yield(to: "other"), task: "app"),
        FaultSpec(point: "reserve.data", trigger: .nth(1), action: .yield(to: "fixer")),
      ])
    #expect(plan.faults.isEmpty)
  }

  @Test("a preemption to an unknown task is an error at its place, with a hint")
  func preemptUnknownTask() {
    let e = #expect(throws: PlanError.self) {
      try loader.parse(base + "schedule:\n  preempt:\n    - { at: worker.queued, to: othr }\n", file: "t.yaml")
    }
    #expect(e?.location.line == 12)
    #expect(e?.key == "schedule.preempt[0].to")
    #expect(e?.hint == "did you mean 'other'?")
  }

  @Test("fault filters may name the engine's workers and their work items")
  func workerFilters() throws {
    let plan = try loader.parse(
      base + "faults:\n  - { at: reserve.data, task: fixer, op: fixup, nth: 1, fail: ENOSPC }\n", file: "t.yaml")
    #expect(plan.faults.first?.task == "fixer")
    #expect(plan.faults.first?.op == "fixup")
    let e = #expect(throws: PlanError.self) {
      try loader.parse(base + "faults:\n  - { at: reserve.data, op: fixpu, nth: 1, fail: ENOSPC }\n", file: "t.yaml")
    }
    #expect(e?.hint == "did you mean 'fixup'?")
  }
}
