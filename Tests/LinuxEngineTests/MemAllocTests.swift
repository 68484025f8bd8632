import FaultKit
import FaultlineEngines
import Foundation
import Testing

@testable import LinuxEngine

/// `mem.alloc` on the real kernel (fail-nth), and the page-cache state snapshots read with it.
@Suite("linux: mem.alloc through fail-nth, page state at rest", .serialized)
struct MemAllocTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static func plan(_ name: String) throws -> Plan {
    try PlanLoader(registry: FaultlineEngines.registry).load(
      file: root.appendingPathComponent("Plans/linux/\(name).yaml").path)
  }

  /// Hits of mem.alloc per operation, in plan order.
  static func perOp(_ hits: [Hit]) -> [String: Int] {
    hits.filter { $0.point == "mem.alloc" }.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
  }

  @Test("every operation's allocations are counted, the same on a fresh machine and a reused one")
  func counted() throws {
    let plan = try Self.plan("ext4-alloc-fail")
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let (first, hits1) = try runner.runRecordingHits(plan)
    #expect(first.passed, "\(first.violations) \(first.unjudged ?? [])")
    let (_, hits2) = try runner.runRecordingHits(plan)
    let counts = Self.perOp(hits1)
    // A 64KiB buffered write allocates at least its 16 page-cache pages; fsync allocates for
    // writeback and the journal; both are counted in the task that runs them.
    #expect((counts["write"] ?? 0) >= 16, "\(counts)")
    #expect((counts["fsync"] ?? 0) > 0, "\(counts)")
    #expect(Self.perOp(hits2) == counts, "the second scenario ran on the machine the first left")
    #expect(MachinePool.shared.counts.reuses > 0)
  }

  @Test("a placement fails exactly that allocation of its operation, and the kernel says it did")
  func fires() throws {
    var plan = try Self.plan("ext4-alloc-fail")
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let (_, hits) = try runner.runRecordingHits(plan)
    let target = try #require(hits.first { $0.point == "mem.alloc" && $0.op == "fsync" })
    plan.faults = [FaultSpec(point: "mem.alloc", trigger: .nth(target.hit), action: .fail(.noMemory))]
    let r = try runner.run(plan)
    #expect(r.fired.map { "\($0.point)#\($0.hit) \($0.op)" } == ["mem.alloc#\(target.hit) fsync"])
    #expect(!(r.unjudged ?? []).contains { $0.kind == .placement }, "\(r.unjudged ?? [])")
    #expect(r.trace.contains { $0.contains("kernel: FAULT_INJECTION: forcing a failure") }, "\(r.trace.suffix(20))")
    // An ENOMEM fsync hands on is marked as the injected one.
    if let fsync = r.ops.first(where: { $0.op.hasPrefix("fsync") }), fsync.outcome.errno == .noMemory {
      #expect(fsync.outcome.injected?.point == "mem.alloc")
    }
  }

  @Test("a placement past the last allocation fires nowhere, and that is said")
  func pastTheEnd() throws {
    var plan = try Self.plan("ext4-alloc-fail")
    plan.faults = [FaultSpec(point: "mem.alloc", trigger: .nth(100_000), action: .fail(.noMemory))]
    let r = try ScenarioRunner(registry: FaultlineEngines.registry).run(plan)
    #expect(r.fired.isEmpty)
    #expect((r.unfired ?? []).contains { $0.fault.contains("mem.alloc") })
  }

  @Test("cachestat reads the page cache: a write leaves its pages dirty, an fsync cleans them")
  func pageState() throws {
    var plan = try Self.plan("ext4-alloc-fail")
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let synced = try runner.run(plan)
    #expect(synced.atRest?.pages.isEmpty == true, "\(synced.atRest?.pages ?? [])")
    #expect(!synced.violations.contains { $0.invariant == LinuxModel.pagesSettled })
    // Only the write: 16 dirty pages at rest, and no violation (nobody fsync'd them).
    plan.tasks[0].ops = [plan.tasks[0].ops[0]]
    let dirty = try runner.run(plan)
    let pages = dirty.atRest?.pages ?? []
    #expect(pages.count == 16 && pages.allSatisfy { $0.flags == .dirty }, "\(pages)")
    #expect(!dirty.violations.contains { $0.invariant == LinuxModel.pagesSettled }, "\(dirty.violations)")
  }

  @Test("lockdep is still on when a scenario starts: what the kernel said booting did not turn it off")
  func lockdepOn() throws {
    let plan = try Self.plan("ext4-alloc-fail")
    let kernel = try LinuxKernel.locate(explicit: nil)
    let setup = try LinuxSetup(plan.setup)
    let m = try MachinePool.shared.take(kernel: kernel, setup: setup)
    defer { MachinePool.shared.give(m) }
    let r = try m.must("read", [("path", "/proc/lockdep_stats")])
    let text = r.text("out") ?? ""
    #expect(text.contains("debug_locks:                             1"), "\(text)")
  }
}
