import FaultKit
import FaultlineEngines
import Testing

/// Sizes no file can have, in plans that were never loaded (made in code): every engine answers
/// EFBIG or EINVAL, as the VFS does past s_maxbytes, and nothing traps or allocates a terabyte.
@Suite("Operations with impossible ranges return an error on every engine")
struct OperationRangeTests {
  static let engines = ["btrfs-model", "xfs-model", "ext4-model", "ext2fs"]

  static func plan(_ engine: String, _ ops: [FaultKit.Operation]) -> Plan {
    let setup = engine == "ext2fs" ? nil : try? PlanValue.parse("{ files: [ { path: /a } ] }", file: "setup")
    let create = engine == "ext2fs" ? [FaultKit.Operation(.create, path: "/a")] : []
    return Plan(
      name: "ranges-\(engine)", file: "ranges-\(engine).yaml", engine: engine, setup: setup,
      tasks: [PlanTask(name: "w", ops: create + ops)],
      expect: Expectations(ops: [OpExpectation(.kind(.write), .any), OpExpectation(.kind(.read), .any)]))
  }

  @Test("offset 2^64-1, length 1TiB and an offset past the device: EINVAL and EFBIG", arguments: engines)
  func refused(_ engine: String) throws {
    let p = Self.plan(
      engine,
      [
        FaultKit.Operation(.write, path: "/a", offset: .max, length: 4096),
        FaultKit.Operation(.write, path: "/a", offset: 0, length: 1 << 40),
        FaultKit.Operation(.write, path: "/a", offset: 1 << 40, length: 4096),
        FaultKit.Operation(.read, path: "/a", offset: 1 << 50, length: 1 << 50),
        FaultKit.Operation(.write, path: "/a", offset: 0, length: 4096),
      ])
    let r = try ScenarioRunner(registry: FaultlineEngines.registry).run(p)
    let outcomes = r.ops.suffix(5).map(\.outcome.description)
    #expect(outcomes == ["EINVAL", "EFBIG", "EFBIG", "EINVAL", "ok"], "\(r.ops)")
    #expect(r.passed, "\(r.violations) \(r.unjudged ?? [])")
  }
}
