import FaultKit
import FaultlineEngines
import Foundation
import Testing

@testable import LinuxEngine

/// XFS's errortags as points on the real kernel: one hit per operation, armed for the operation
/// whose hit fires, confirmed by XFS's own `Injecting` line.
@Suite("linux: XFS errortags as fault points", .serialized)
struct XfsErrortagTests {
  static func plan() throws -> Plan {
    try PlanLoader(registry: FaultlineEngines.registry).load(
      file: MemAllocTests.root.appendingPathComponent("Plans/linux/xfs-errortags.yaml").path)
  }

  @Test(
    "every operation of an xfs plan with errortags: true is a hit of each tag; none of one without, nor of an ext4 plan"
  )
  func hits() throws {
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let (r, hits) = try runner.runRecordingHits(try Self.plan())
    #expect(r.passed, "\(r.violations) \(r.unjudged ?? [])")
    let tags = hits.filter { $0.point.hasPrefix("xfs.") }
    #expect(tags.count == XfsErrortag.all.count * r.ops.count, "\(tags.map(\.point))")
    let ext4 = try PlanLoader(registry: FaultlineEngines.registry).load(
      file: MemAllocTests.root.appendingPathComponent("Plans/linux/ext4-write-fsync.yaml").path)
    let (_, other) = try runner.runRecordingHits(ext4)
    #expect(!other.contains { $0.point.hasPrefix("xfs.") })
    // Without errortags: true an xfs plan places none (each would be a placement never fired).
    let plain = try PlanLoader(registry: FaultlineEngines.registry).load(
      file: MemAllocTests.root.appendingPathComponent("Plans/linux/xfs-write-fsync.yaml").path)
    let (_, untagged) = try runner.runRecordingHits(plain)
    #expect(!untagged.contains { $0.point.hasPrefix("xfs.") })
  }

  @Test("bmap_alloc_minlen_extent armed for fsync fires in its writeback, and XFS says where")
  func fires() throws {
    var plan = try Self.plan()
    // Hit 2: the second operation, fsync, whose writeback allocates the delalloc range.
    plan.faults = [FaultSpec(point: "xfs.bmap_alloc_minlen_extent", trigger: .nth(2), action: .short(maxBytes: nil))]
    let r = try ScenarioRunner(registry: FaultlineEngines.registry).run(plan)
    #expect(r.fired.map { "\($0.point) \($0.op)" } == ["xfs.bmap_alloc_minlen_extent fsync"])
    #expect(
      r.trace.contains { $0.contains("Injecting error at file") && $0.contains("xfs_bmap.c") }, "\(r.trace.suffix(30))")
    #expect(!(r.unjudged ?? []).contains { $0.kind == .placement }, "\(r.unjudged ?? [])")
    #expect(r.violations.isEmpty, "\(r.violations)")
    // Exact minimum-length allocation: on 6.12 writeback then finds no such extent and fsync
    // reports ENOSPC (the pages' data is dropped and the loss reported); else the file is mapped
    // by more than the one extent it gets unarmed.
    let fsync = try #require(r.ops.first { $0.op.hasPrefix("fsync") })
    let extents = (r.atRest?.extents ?? []).filter { $0.file == "/a" && $0.source == .tree }
    #expect(fsync.outcome.errno == .noSpace || extents.count > 1, "\(fsync.outcome) \(extents.map(\.line))")
  }

  @Test("a tag armed for an operation that never passes it did not fire, and that is said")
  func notPassed() throws {
    var plan = try Self.plan()
    // Nothing in a write, fsync and read frees an extent.
    plan.faults = [FaultSpec(point: "xfs.free_extent", trigger: .nth(1), action: .fail(.io))]
    let r = try ScenarioRunner(registry: FaultlineEngines.registry).run(plan)
    #expect(
      (r.unjudged ?? []).contains {
        $0.kind == .placement && $0.reason.contains("printed no `Injecting` line from xfs_alloc.c")
      },
      "\(r.unjudged ?? [])")
  }
}
