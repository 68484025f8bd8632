import FaultKit
import FaultlineEngines
import Foundation
import LinuxEngine
import Testing

/// The real kernel under a power cut (issue 15's done-when): data an fsync acknowledged survives
/// on all three filesystems; data written after it may be lost, and that loss is said as allowed,
/// not reported as a bug. (That no machine outlives a sweep is LinuxLifecycleTests'.)
@Suite("linux: power cuts", .serialized)
struct PowerCutTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test(
    "a power cut after fsync loses nothing; the unacknowledged write's loss is allowed",
    arguments: ["ext4", "btrfs", "xfs"])
  func powerCut(fs: String) throws {
    let registry = FaultlineEngines.registry
    let plan = try PlanLoader(registry: registry).load(
      file: Self.root.appendingPathComponent("Plans/linux/\(fs)-power-cut.yaml").path)
    let r = try ScenarioRunner(registry: registry).run(plan)
    #expect(r.passed, "\(r.violations.map(\.message)) \(r.unjudged ?? [])")
    #expect(r.fired.contains { $0.point == "power-cut" }, "the power was cut")
    #expect(r.ops.last?.outcome.status == .powerCut, "the op after the cut never ran")
    // /b was written and never fsync'd: recovery dropped it, and the trace says that was allowed.
    #expect(
      r.trace.contains { $0.contains("after recover /b") && $0.contains("a loss allowed") }, "\(r.trace.suffix(5))")
    #expect(!r.trace.contains { $0.contains("after recover /a") }, "/a was fsync'd: nothing of it may be lost")
  }

  @Test("a flush the disk fails: fsync says EIO, ext4 aborts its journal, and the state it then hides is unjudged")
  func failedFlush() throws {
    let registry = FaultlineEngines.registry
    var plan = try PlanLoader(registry: registry).load(
      file: Self.root.appendingPathComponent("Plans/linux/ext4-write-fsync.yaml").path)
    plan.faults = [FaultSpec(point: "io.flush", trigger: .nth(1), mode: .transient, action: .fail(.io))]
    let r = try ScenarioRunner(registry: registry).run(plan)
    let fsync = try #require(r.ops.first { $0.op.hasPrefix("fsync") })
    #expect(fsync.outcome.errno == .io, "\(fsync.outcome)")
    #expect(r.fired.contains { $0.point == "io.flush" })
    // FIEMAP is refused after the abort: not a pass, and the reason names the kernel's report.
    #expect(!r.passed)
    #expect(
      (r.unjudged ?? []).contains { $0.reason.contains("FIEMAP failed: EIO") && $0.reason.contains("aborted journal") },
      "\(r.unjudged ?? [])")
    // What could be judged holds: fsync reported the loss, and nothing acknowledged was lost.
    #expect(
      !r.violations.contains { $0.invariant == .dataDurable || $0.invariant == .errorsReported }, "\(r.violations)")
  }
}
