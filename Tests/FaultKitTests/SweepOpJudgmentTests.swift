import Testing

import class Foundation.FileManager
import struct Foundation.URL
import func Foundation.getpid

@testable import FaultKit

/// A tiny engine whose fsync lies in the ways sweeps used to let pass.
private enum Liar {
  static let catalog = FaultCatalog([
    FaultPoint("io.write", kind: .io, errnos: [.io], about: "the data write")
  ])
  static let descriptor = EngineDescriptor(
    name: "liar-model", about: "test fixture: fsync returns what its bug says", catalog: catalog,
    operations: [.write, .fsync], bugs: [BugSwitch("fsync-eexist", about: ""), BugSwitch("yield-is-eio", about: "")],
    invariants: [.noHang], checkSetup: { _ in }, make: { ctx in Instance(ctx) })

  final class Instance: Engine, @unchecked Sendable {
    let harness: Harness
    let bugs: Set<String>
    init(_ ctx: EngineContext) {
      harness = ctx.harness
      bugs = ctx.bugs
    }
    func setup() async throws {}
    func perform(_ op: Operation) async throws -> [UInt8]? {
      switch op.kind {
      case .write: try await harness.check(FaultPointID(0))
      case .fsync:
        if bugs.contains("fsync-eexist") { throw FSError(.exists) }
        // A race: the schedule a yield made turns into an I/O error no fault caused.
        if bugs.contains("yield-is-eio") && harness.injector.fired.contains(where: { $0.decision.hasPrefix("yield") }) {
          throw FSError(.io)
        }
      default: break
      }
      return nil
    }
    func snapshot() -> Snapshot { Snapshot() }
    func recover() async throws {}
  }
}

@Suite("sweeps judge op outcomes")
struct SweepOpJudgmentTests {
  let registry = EngineRegistry([Liar.descriptor])
  func plan() throws -> Plan {
    try PlanLoader(registry: registry).parse(
      """
      plan: liar
      engine: liar-model
      tasks:
        - name: app
          ops:
            - write: { path: /a, offset: 0, length: 4KiB }
            - fsync: { path: /a }
      """, file: "liar.yaml")
  }

  @Test("an fsync failing with an errno fsync(2) never returns fails the sweep scenario")
  func impossibleErrno() throws {
    let fault = Placement(point: "io.write", hit: 1, action: .fail(.io), mode: .transient)
    let r = try ScenarioRunner(registry: registry).run(
      try plan(), RunOptions(bugs: ["fsync-eexist"], faults: [fault.spec]))
    #expect(Sweeper.failed(r))
    #expect(r.violations.map(\.message) == ["app op 2 fsync returned EEXIST, which fsync(2) never returns"])
  }

  @Test("an EIO that only a yield placement brings, with no fault fired, fails the sweep scenario")
  func uncausedError() throws {
    let yield = Placement(point: "io.write", hit: 1, action: .yield(to: nil), mode: .transient)
    let r = try ScenarioRunner(registry: registry).run(
      try plan(), RunOptions(bugs: ["yield-is-eio"], faults: [yield.spec]))
    #expect(Sweeper.failed(r))
    #expect(r.violations.map(\.invariant) == [.opErrorsExplained])
    // Without the bug, the same placement passes.
    let ok = try ScenarioRunner(registry: registry).run(try plan(), RunOptions(faults: [yield.spec]))
    #expect(!Sweeper.failed(ok))
  }

  @Test("a sweep's scenario lines say which op each fault fired in and which ops then failed")
  func firedOpAndErrors() throws {
    // The in-process executor loads plans from their files.
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-liar-\(getpid()).yaml")
    try PlanWriter.yaml(try plan()).write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let loaded = try PlanLoader(registry: registry).load(file: file.path)
    let results = try SweepDriver(registry: registry).sweepInProcess(
      [loaded], configs: [SweepConfig(plan: loaded)], bugs: ["fsync-eexist"])
    let lines = try #require(results.first).scenarios
    let fired = try #require(lines.first { !$0.fired.isEmpty })
    #expect(fired.fired.map(\.op) == ["write"])
    #expect(fired.errors == ["app/1 write: EIO", "app/2 fsync: EEXIST"])
    // The fault-free scenario: only the bug's fsync error.
    #expect(lines.first { $0.fired.isEmpty }?.errors == ["app/2 fsync: EEXIST"])
  }
}
