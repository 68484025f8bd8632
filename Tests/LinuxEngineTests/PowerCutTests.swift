import BuiltinEngines
import FaultKit
import Foundation
import LinuxEngine
import Testing

/// The real kernel under a power cut (issue 15's done-when): data an fsync acknowledged survives
/// on all three filesystems; data written after it may be lost, and that loss is said as allowed,
/// not reported as a bug. Then no User-Mode Linux process of this test is left.
@Suite("linux: power cuts", .serialized)
struct PowerCutTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test(
    "a power cut after fsync loses nothing; the unacknowledged write's loss is allowed",
    arguments: ["ext4", "btrfs", "xfs"])
  func powerCut(fs: String) throws {
    let registry = BuiltinEngines.registry
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

  @Test("the same plan with the fsync failed by the disk: fsync says EIO, the data oracle holds the kernel to it")
  func failedFsync() throws {
    let registry = BuiltinEngines.registry
    var plan = try PlanLoader(registry: registry).load(
      file: Self.root.appendingPathComponent("Plans/linux/ext4-write-fsync.yaml").path)
    plan.faults = [FaultSpec(point: "io.flush", trigger: .nth(1), mode: .transient, action: .fail(.io))]
    plan.expect.invariants = nil
    let r = try ScenarioRunner(registry: registry).run(plan)
    let fsync = try #require(r.ops.first { $0.op.hasPrefix("fsync") })
    #expect(fsync.outcome.errno == .io, "\(fsync.outcome)")
    #expect(r.fired.contains { $0.point == "io.flush" })
  }

  @Test("no User-Mode Linux process is left once the machines are shut down")
  func noOrphans() throws {
    BuiltinEngines.shutdownMachines()
    let me = getpid()
    var children: [String] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
      else { continue }
      // Fields after the command's closing parenthesis: state, ppid, pgrp.
      guard let close = stat.lastIndex(of: ")") else { continue }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      guard fields.count > 2, Int32(fields[1]) == me else { continue }
      let comm = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
      if fields[0] != "Z" { children.append("\(pid) \(comm)") }
    }
    #expect(children.filter { $0.contains("linux") }.isEmpty, "left running: \(children)")
  }
}
