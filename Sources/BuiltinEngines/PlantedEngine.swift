import FaultKit
import Foundation

/// Engine `planted-model`, registered only when `FAULTLINE_PLANTED=1`: a test fixture whose
/// points crash the process or hang it for real (no schedule point, no way back), so the sweep's
/// worker isolation can be tested. It has no filesystem behind it.
enum PlantedEngine {
  static let catalog = FaultCatalog([
    FaultPoint("planted.step", kind: .io, errnos: [.io], about: "an ordinary point: fails the write with EIO"),
    FaultPoint("planted.crash", kind: .io, errnos: [.io], about: "a fault here traps the process (fatalError)"),
    FaultPoint("planted.hang", kind: .io, errnos: [.io], about: "a fault here blocks the process for an hour"),
  ])

  static let descriptor = EngineDescriptor(
    name: "planted-model", about: "test fixture: planted crash and hang points", catalog: catalog,
    operations: [.write], bugs: [], invariants: [.noHang],
    checkSetup: { _ in }, make: { ctx in Instance(ctx.harness) })

  final class Instance: Engine, @unchecked Sendable {
    let harness: Harness
    init(_ harness: Harness) { self.harness = harness }
    func setup() async throws {}
    func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
      try await harness.check(FaultPointID(0))
      if case .fail = try await harness.hit(FaultPointID(1)) { fatalError("planted crash in \(op.path)") }
      if case .fail = try await harness.hit(FaultPointID(2)) { sleep(3600) }
      return nil
    }
    func snapshot() -> Snapshot { Snapshot() }
    func recover() async throws {}
  }
}
