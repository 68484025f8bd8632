import Testing

@testable import FaultKit

/// An engine whose read path returns zeros where its device holds setup's data.
private enum Rot {
  static let descriptor = EngineDescriptor(
    name: "rot-model", about: "test fixture: reads return zeros over setup's data", catalog: FaultCatalog([]),
    operations: [.read], bugs: [], invariants: [.errorsReported], checkSetup: { _ in }, make: { _ in Instance() })

  final class Instance: Engine, @unchecked Sendable {
    func setup() async throws {}
    func perform(_ op: Operation) async throws -> [UInt8]? { [UInt8](repeating: 0, count: 8) }
    func snapshot() -> Snapshot {
      var s = Snapshot()
      s.files = [FileRecord(path: "/a", size: 8)]
      s.extents = [
        ExtentRecord(
          source: .tree, file: "/a", range: ByteRange(start: 0, length: 8), disk: BlockRange(start: 3, count: 1),
          state: "written")
      ]
      return s
    }
    func blockBytes(_ block: UInt64) -> [UInt8]? { block == 3 ? [UInt8](repeating: 0x5A, count: 8) : nil }
    func recover() async throws {}
  }
}

/// The data oracle's picture of setup's files comes from the device, not from the read path it
/// judges: a read path that returns the wrong bytes for data setup wrote is caught. (Seeded by a
/// read through the engine, the oracle took the zeros for the truth and saw nothing.)
@Suite("the oracle is seeded from the device")
struct SetupSeedTests {
  @Test("a read returning zeros over setup's data is errors-reported")
  func wrongReadOfSetupData() throws {
    let registry = EngineRegistry([Rot.descriptor])
    let plan = try PlanLoader(registry: registry).parse(
      """
      plan: rot
      engine: rot-model
      tasks:
        - name: app
          ops:
            - read: { path: /a }
      """, file: "rot.yaml")
    let r = try ScenarioRunner(registry: registry).run(plan, RunOptions())
    let reads = r.violations.filter {
      $0.invariant == .errorsReported && $0.message.hasPrefix("read of /a returned wrong data")
    }
    #expect(reads.count == 1, "\(r.violations)")
  }
}
