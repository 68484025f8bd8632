import BtrfsModel
import Ext4Model
import Testing
import XfsModel

@testable import FaultKit

/// Setup leaves files cold: the data oracle learns what setup wrote from the device, not by a
/// read that would cache every page before the first operation (and make every read-in error
/// path unreachable). `cached: true` asks for the warm state instead.
@Suite("cold setup")
struct ColdSetupTests {
  let registry = EngineRegistry([BtrfsModel.descriptor, XfsModel.descriptor, Ext4Model.descriptor])

  func plan(_ engine: String, cached: Bool) throws -> Plan {
    try PlanLoader(registry: registry).parse(
      """
      plan: cold
      engine: \(engine)
      setup:
        device: { blocks: 128 }
        files: [ { path: /a, size: 12KiB\(cached ? ", cached: true" : "") } ]
      tasks:
        - name: app
          ops:
            - write: { path: /a, offset: 100, length: 200, pattern: 0x11 }
            - read: { path: /a }
      faults:
        - { at: io.read, nth: 1, fail: EIO }
      expect:
        ops: { app/1: any }
      """, file: "cold.yaml")
  }

  @Test(
    "a partial write over setup's data reads the page in, and the first read-in can fail",
    arguments: ["btrfs-model", "xfs-model", "ext4-model"])
  func coldReadIn(engine: String) throws {
    let r = try ScenarioRunner(registry: registry).run(try plan(engine, cached: false), RunOptions())
    #expect(r.fired.map(\.point) == ["io.read"], "\(r.trace.joined(separator: "\n"))")
    #expect(r.ops.first?.outcome.errno == .io)
    // The read after it succeeds (the page is read in again) and returns setup's bytes around
    // nothing written: the oracle, seeded from the device, agrees.
    #expect(r.ops.last?.outcome.status == .ok)
    #expect(r.violations.isEmpty, "\(r.violations)")
  }

  @Test(
    "cached: true leaves setup's pages in the cache: no read-in, the fault never fires",
    arguments: ["btrfs-model", "xfs-model", "ext4-model"])
  func warmSetup(engine: String) throws {
    let r = try ScenarioRunner(registry: registry).run(try plan(engine, cached: true), RunOptions())
    #expect(r.fired.isEmpty)
    #expect(r.ops.allSatisfy { $0.outcome.status == .ok })
    #expect(r.violations.isEmpty, "\(r.violations)")
  }

  @Test("the oracle's seed is setup's bytes as the device holds them")
  func storedContents() throws {
    var s = Snapshot()
    s.files = [FileRecord(path: "/a", size: 10, pendingError: nil)]
    s.extents = [
      ExtentRecord(
        source: .tree, file: "/a", range: ByteRange(start: 0, length: 4), disk: BlockRange(start: 7, count: 1),
        state: "written"),
      ExtentRecord(
        source: .tree, file: "/a", range: ByteRange(start: 8, length: 4), disk: BlockRange(start: 9, count: 1),
        state: "unwritten"),
    ]
    let bytes = StoredContents.read("/a", size: 10, in: s) { [UInt8](repeating: UInt8($0), count: 4) }
    #expect(bytes == [7, 7, 7, 7, 0, 0, 0, 0, 0, 0])
    // Data not on the device yet, or blocks the engine cannot say: nothing (read through the engine).
    s.extents.append(ExtentRecord(source: .delalloc, file: "/a", range: ByteRange(start: 4, length: 4)))
    #expect(StoredContents.read("/a", size: 10, in: s) { [UInt8](repeating: UInt8($0), count: 4) } == nil)
    s.extents.removeLast()
    #expect(StoredContents.read("/a", size: 10, in: s) { _ in nil } == nil)
  }
}
