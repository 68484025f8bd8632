import Ext4Model
import Testing

@testable import FaultKit

/// ext4-model's unlink removes the name first and frees the blocks at evict; an evict whose
/// truncate fails leaves the inode on the orphan list, holding what it did not free, and the next
/// mount's orphan processing frees the rest.
@Suite("ext4-model orphans")
struct Ext4OrphanTests {
  static let setup = """
    device: { blocks: 128 }
    free-space: { run-blocks: 1 }
    extent-tree: { leaf-capacity: 2 }
    files: [ { path: /a } ]
    """

  /// Eight one-block extents in /a, committed; unlink's evict is cut short after one removal by
  /// a restart whose new handle fails (`txn.start` hit 3 in unlink: the entry's handle, evict's
  /// handle, the restart).
  func failedEvict(commitAfter: Bool) throws -> EngineUnderTest {
    let t = try EngineUnderTest(
      Ext4Model.descriptor, setup: try PlanValue.parse(Self.setup, file: "setup.yaml"),
      faults: [
        FaultSpec(point: "txn.extend", trigger: .nth(2), action: .restart, op: "unlink"),
        FaultSpec(point: "txn.start", trigger: .nth(3), action: .fail(.noMemory), op: "unlink"),
      ])
    var ops = [
      Operation(.write, path: "/a", offset: 0, length: 32 * 1024, pattern: 0x99), Operation(.fsync, path: "/a"),
      Operation(.unlink, path: "/a"), Operation(.read, path: "/a"),
    ]
    if commitAfter { ops += [Operation(.create, path: "/b"), Operation(.fsync, path: "/b")] }
    let errors = t.perform(ops)
    #expect(errors[2] == nil, "unlink does not return evict's error")
    #expect(errors[3]?.errno == .noEntry, "the name is gone")
    return t
  }

  @Test("a failed evict leaves an orphan that maps what it did not free: not a file, not a leak")
  func orphanHoldsTheRest() throws {
    let t = try failedEvict(commitAfter: false)
    let s = try t.engine.snapshot()
    #expect(s.files.isEmpty)
    let orphan = s.extents.filter { $0.source == .tree }
    #expect(orphan.count == 7, "\(orphan.map(\.line))")
    #expect(orphan.allSatisfy { $0.file.hasPrefix("orphan inode ") && $0.file.hasSuffix("(was /a)") })
    // One block removed: pinned until the next commit. The rest is the orphan's.
    #expect(s.pinned.contains { $0.why.hasPrefix("freed") && $0.range.count == 1 })
    #expect(t.judge(SpaceBalanced()).isEmpty, "\(t.judge(SpaceBalanced()))")
    #expect(t.judge(NoDoubleAllocation()).isEmpty)
  }

  @Test("the next mount's orphan processing frees what a committed orphan still held")
  func orphanProcessingFreesTheRest() throws {
    let t = try failedEvict(commitAfter: true)
    let before = try t.engine.snapshot()
    let freeBefore = before.free.reduce(0) { $0 + $1.count }
    t.recover()
    let after = try t.engine.snapshot()
    #expect(after.files.map(\.path) == ["/b"])
    #expect(after.extents.filter { $0.source == .tree }.isEmpty, "\(after.extents.map(\.line))")
    #expect(after.free.reduce(0) { $0 + $1.count } == freeBefore + 7)
    #expect(t.judge(SpaceBalanced()).isEmpty, "\(t.judge(SpaceBalanced()))")
  }

  @Test("an orphan not yet committed is forgotten by a crash: the name comes back with its blocks")
  func uncommittedUnlinkComesBack() throws {
    let t = try failedEvict(commitAfter: false)
    t.recover()
    let after = try t.engine.snapshot()
    #expect(after.files.map(\.path) == ["/a"])
    #expect(after.extents.filter { $0.source == .tree && $0.file == "/a" }.count == 8)
    #expect(t.judge(SpaceBalanced()).isEmpty, "\(t.judge(SpaceBalanced()))")
  }
}
