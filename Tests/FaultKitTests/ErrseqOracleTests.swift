import Testing

@testable import FaultKit

@Suite("errseq oracle")
struct ErrseqOracleTests {
  /// A harness whose scheduler never runs: the oracle only needs its callbacks and its holder.
  func harness() -> Harness {
    Harness(
      scheduler: Scheduler(policy: FIFOPolicy(), stepLimit: 100, trace: Trace()),
      injector: Injector(catalog: FaultCatalog([]), faults: []))
  }
  let fsync = Operation(.fsync, path: "/a")

  @Test("every task's next fsync must report an error recorded since it last checked, once")
  func perTask() {
    let h = harness()
    let o = ErrseqOracle(harness: h)
    h.writebackError(file: "/a", FSError(.io))
    o.begin(task: "a")
    o.end(task: "a", index: 1, op: fsync, outcome: .error(FSError(.io)))
    o.begin(task: "a")
    o.end(task: "a", index: 2, op: fsync, outcome: .ok)
    #expect(o.violations.isEmpty)
    o.begin(task: "b")
    o.end(task: "b", index: 1, op: fsync, outcome: .ok)
    #expect(o.violations.count == 1)
    #expect(o.violations.first?.invariant == .errorsReported)
    // Reported once per error and task.
    o.begin(task: "b")
    o.end(task: "b", index: 2, op: fsync, outcome: .ok)
    #expect(o.violations.count == 1)
  }

  @Test("an error another task records during an fsync may be missed by it, not by the next one")
  func concurrentError() {
    let h = harness()
    let o = ErrseqOracle(harness: h)
    o.begin(task: "a")
    h.writebackError(file: "/a", FSError(.io))  // by "-": not task a
    o.end(task: "a", index: 1, op: fsync, outcome: .ok)
    #expect(o.violations.isEmpty)
    o.begin(task: "a")
    o.end(task: "a", index: 2, op: fsync, outcome: .ok)
    #expect(o.violations.count == 1)
  }

  @Test("errors on another file, or on a file since unlinked, are not this fsync's")
  func otherFiles() {
    let h = harness()
    let o = ErrseqOracle(harness: h)
    h.writebackError(file: "/b", FSError(.noSpace))
    h.writebackError(file: "/a", FSError(.io))
    o.begin(task: "a")
    o.end(task: "a", index: 1, op: Operation(.unlink, path: "/a"), outcome: .ok)
    o.begin(task: "b")
    o.end(task: "b", index: 1, op: fsync, outcome: .ok)
    #expect(o.violations.isEmpty)
  }

  @Test("a rename carries a file's errors to its new name and retires the replaced file's")
  func rename() {
    let h = harness()
    let o = ErrseqOracle(harness: h)
    h.writebackError(file: "/b", FSError(.noSpace))
    h.writebackError(file: "/a", FSError(.io))
    o.begin(task: "a")
    o.end(task: "a", index: 1, op: Operation(.rename, path: "/a", target: "/b"), outcome: .ok)
    // /a is gone: nothing to report on it.
    o.begin(task: "b")
    o.end(task: "b", index: 1, op: fsync, outcome: .ok)
    #expect(o.violations.isEmpty)
    // /b is the old /a: its EIO is owed; the replaced /b's ENOSPC is no one's.
    o.begin(task: "b")
    o.end(task: "b", index: 2, op: Operation(.fsync, path: "/b"), outcome: .ok)
    #expect(o.violations.count == 1)
    #expect(o.violations.first?.evidence.count == 1)
    #expect(o.violations.first?.evidence.first?.hasPrefix("EIO recorded on /b") == true)
  }
}
