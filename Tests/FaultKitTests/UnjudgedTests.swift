import Foundation
import Testing

@testable import FaultKit

/// An engine that misbehaves the way `setup: { misbehave: WHAT }` says: a file store with a write
/// point, whose snapshot, operations, worker, setup or verify go wrong on demand.
private final class MisbehavingEngine: Engine, @unchecked Sendable {
  enum Mode: String {
    case none
    case snapshotThrows = "snapshot-throws"
    case snapshotPartial = "snapshot-partial"
    case opThrows = "op-throws"
    case workerThrows = "worker-throws"
    case setupThrows = "setup-throws"
    case verifyThrows = "verify-throws"
    case baselineThrows = "baseline-throws"
  }
  struct Oops: Error {}
  let harness: Harness
  let mode: Mode
  var files: [String: [UInt8]] = [:]
  var snapshots = 0

  init(_ ctx: EngineContext) {
    harness = ctx.harness
    let m = ctx.setup.flatMap { try? PlanMap($0, path: "setup", keys: ["misbehave"]) }?.value("misbehave")
    if case .scalar(let s, _) = m { mode = Mode(rawValue: s) ?? .none } else { mode = .none }
  }

  func setup() async throws {
    if mode == .setupThrows { throw Oops() }
    files["/a"] = []
  }

  func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
    switch op.kind {
    case .write:
      try await harness.check(FaultPointID(0))
      if mode == .opThrows { throw Oops() }
      if mode == .workerThrows {
        harness.scheduler.spawn("flusher", kind: .worker) { throw Oops() }
      }
      var f = files[op.path] ?? []
      let end = Int(op.offset! + op.length!)
      if f.count < end { f += [UInt8](repeating: 0, count: end - f.count) }
      for i in Int(op.offset!)..<end { f[i] = op.writeData.byte(at: UInt64(i)) }
      files[op.path] = f
      return nil
    case .read: return files[op.path] ?? []
    default: return nil
    }
  }

  func snapshot() throws -> Snapshot {
    snapshots += 1
    if mode == .baselineThrows && snapshots == 1 { throw UnreadableState(.snapshot, "NULL", raw: nil) }
    if mode == .snapshotThrows && snapshots > 1 {
      throw UnreadableState(.snapshot, "not JSON", rawBytes: Array("{\"files\": [\u{1}".utf8))
    }
    var s = Snapshot()
    s.files = files.keys.sorted().map { FileRecord(path: $0, size: UInt64(files[$0]!.count)) }
    if mode == .snapshotPartial { s.unreadable = ["inode 12 (/b): its extent tree did not read back"] }
    return s
  }

  func recover() async throws {}

  func verify() async throws -> [Finding] {
    if mode == .verifyThrows { throw UnreadableState(.verify, "findings are not JSON", raw: "oops") }
    return []
  }
}

private let misbehaving: EngineDescriptor = {
  var d = EngineDescriptor(
    name: "misbehaving-model", about: "test fixture",
    catalog: FaultCatalog([FaultPoint("io.write", kind: .io, errnos: [.io], about: "a write")]),
    operations: [.write, .read, .fsync], bugs: [], invariants: [.locksReleased, .dataDurable, .errorsReported],
    checkSetup: { _ in }, make: { MisbehavingEngine($0) })
  d.verifies = true
  return d
}()

private let registry = EngineRegistry([misbehaving])

private func plan(_ mode: String, faults: String = "", expect: String = "", file: String = "p.yaml") throws -> Plan {
  try PlanLoader(registry: registry).parse(text(mode, faults: faults, expect: expect), file: file)
}

private func text(_ mode: String, faults: String = "", expect: String = "") -> String {
  """
  plan: p
  engine: misbehaving-model
  setup: { misbehave: \(mode) }
  tasks:
    - name: app
      ops:
        - write: { path: /a, offset: 0, length: 4KiB }
        - read: { path: /a }
  \(faults)
  \(expect)
  """
}

@Suite("Unjudged: a state the oracles could not read is never a pass")
struct UnjudgedTests {
  let runner = ScenarioRunner(registry: registry)

  @Test("a well-behaved run passes and is judged")
  func clean() throws {
    let r = try runner.run(plan("none"))
    #expect(r.passed && r.judged && r.unjudged == nil)
  }

  @Test(
    "each misbehaviour is unjudged with its kind and reason, not passed and not failed",
    arguments: [
      ("snapshot-throws", Unjudged.Kind.snapshot), ("snapshot-partial", .snapshotIncomplete),
      ("op-throws", .engineError), ("worker-throws", .engineError), ("setup-throws", .engineError),
      ("verify-throws", .verify), ("baseline-throws", .snapshot),
    ])
  func misbehaviour(_ mode: String, _ kind: Unjudged.Kind) throws {
    let r = try runner.run(plan(mode))
    #expect(!r.passed, "\(mode) passed")
    #expect(!r.judged)
    #expect(r.unjudgedKinds.contains(kind), "\(mode): \(r.unjudged ?? [])")
    #expect(r.signature.contains("unjudged:\(kind.rawValue)"))
    // Nothing was found, so it is not a failure either: a sweep counts it apart.
    #expect(Sweeper.unjudged(r), "\(mode): \(r.violations)")
  }

  @Test("the raw bytes the engine sent are kept, escaped")
  func raw() throws {
    let r = try runner.run(plan("snapshot-throws"))
    let u = try #require(r.unjudged?.first)
    #expect(u.moment == "at rest")
    #expect(u.raw == "{\"files\": [\\x01")
  }

  @Test("an operation that throws no errno is recorded as an engine error, not as hung")
  func opThrows() throws {
    let r = try runner.run(plan("op-throws"))
    #expect(r.ops[0].outcome.status == .engineError)
    #expect(r.ops[1].outcome.status == .ok)
    #expect(!r.ops.contains { $0.outcome.status == .hung })
  }

  @Test("a setup that throws no errno leaves the scenario unjudged with no operation run")
  func setupThrows() throws {
    let r = try runner.run(plan("setup-throws"))
    #expect(r.ops.isEmpty && !r.judged && !r.passed)
  }

  @Test("a plan fault that never fires fails the run, saying how often its point was reached")
  func unfired() throws {
    let r = try runner.run(plan("none", faults: "faults: [ { at: io.write, nth: 5, fail: EIO } ]"))
    #expect(r.failed && !r.passed)
    let u = try #require(r.unfiredRequired.first)
    #expect(u.reached == "io.write was reached 1 time")
    let allowed = try runner.run(
      plan("none", faults: "faults: [ { at: io.write, nth: 5, fail: EIO } ]", expect: "expect: { faults: any }"))
    #expect(allowed.passed && allowed.unfired?.count == 1)
  }

  @Test("a sweep placement that never fires is unjudged: the run diverged from the recording")
  func placementUnfired() throws {
    let p = try plan("none")
    let sc = SweepScenario(
      plan: p.file, bugs: [], placements: [Placement(point: "io.write", hit: 9, action: .fail(.io), mode: .transient)],
      index: 1)
    let o = try InProcessExecutor.execute(sc, p, runner)
    #expect(o.unjudged == true)
    #expect(o.entry.outcome == .unjudged)
    #expect(o.result?.unjudgedKinds == [.placement])
  }

  @Test("a replay that cannot follow its recorded choices is unjudged")
  func replayDiverged() throws {
    var p = try plan("none")
    p.schedule = .replay(["nobody", "else"])
    let r = try runner.run(p)
    #expect(r.unjudgedKinds == [.schedule])
    #expect(!r.passed)
  }

  @Test("sweep results count unjudged scenarios apart and the run says so")
  func sweepCounts() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("unjudged-\(getpid()).yaml")
    try text("snapshot-throws").write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let p = try PlanLoader(registry: registry).load(file: file.path)
    let results = try SweepDriver(registry: registry).sweepInProcess([p], configs: [SweepConfig(plan: p)])
    let pr = try #require(results.first)
    #expect(pr.unjudged == pr.ran)
    #expect(pr.failed == 0 && pr.passed == 0)
    #expect(pr.failures.allSatisfy { $0.isUnjudged })
    let run = RunResults(command: "sweep", bugs: [], plans: results, catalogs: [:])
    #expect(run.unjudged == pr.ran)
    #expect(run.unexpectedFailures > 0, "a sweep with unjudged scenarios must exit non-zero")
  }
}
