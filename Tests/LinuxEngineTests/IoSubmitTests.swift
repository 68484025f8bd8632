import FaultKit
import FaultlineEngines
import Foundation
import Testing

@testable import LinuxEngine

/// `io.submit` on the real kernel: fail_make_request on the guest's disk, its bios counted by the
/// block tracepoints while an operation runs.
@Suite("linux: io.submit through fail_make_request", .serialized)
struct IoSubmitTests {
  /// The plan `name` of Plans/linux. `ext4-io-submit` with a device of its own size (72 MiB): the
  /// machine pool hands a machine to any run of the same setup, and PlanTests runs the plan as
  /// written in this process too, so with the plan's own setup `traced` could read the trace of
  /// a machine another test's run had just given back.
  static func plan(_ name: String = "ext4-io-submit") throws -> Plan {
    let url = MemAllocTests.root.appendingPathComponent("Plans/linux/\(name).yaml")
    guard name == "ext4-io-submit" else {
      return try PlanLoader(registry: FaultlineEngines.registry).load(file: url.path)
    }
    let text = try String(contentsOf: url, encoding: .utf8)
    precondition(text.contains("device: 64MiB\n"), "Plans/linux/ext4-io-submit.yaml's device changed")
    let own = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-io-submit-\(getpid()).yaml")
    try text.replacingOccurrences(of: "device: 64MiB\n", with: "device: 72MiB\n").write(
      to: own, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: own) }
    return try PlanLoader(registry: FaultlineEngines.registry).load(file: own.path)
  }

  static func perOp(_ hits: [Hit]) -> [String: Int] {
    hits.filter { $0.point == "io.submit" }.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
  }

  /// The bios the last scenario's operations submitted, as the kernel traced them (`block_bio_queue:
  /// 98,0 WS 2048 + 8`, `block_split: …`), read from the machine the scenario ran on.
  static func traced(_ plan: Plan) throws -> [String] {
    let m = try MachinePool.shared.take(
      kernel: try LinuxKernel.locate(explicit: nil), setup: try LinuxSetup(plan.setup))
    defer { MachinePool.shared.give(m) }
    let text = try m.must("read", [("path", "/sys/kernel/debug/tracing/trace")]).text("out") ?? ""
    return text.split(separator: "\n").compactMap { line -> String? in
      guard !line.hasPrefix("#"), let r = line.range(of: ": block_") else { return nil }
      // Without the submitting task's name: a worker's name is not the bio.
      let event = line[line.index(r.lowerBound, offsetBy: 2)...]
      return event.range(of: " [").map { String(event[..<$0.lowerBound]) } ?? String(event)
    }
  }

  /// `block_bio_queue: 98,0 W 2048 + 128`: a write (W, WS, WFS …) with sectors.
  static func isDataWrite(_ bio: String) -> Bool {
    let f = bio.split(separator: " ")
    return f.count >= 6 && f[0] == "block_bio_queue:" && f[2].hasPrefix("W") && f[5] != "0"
  }

  @Test("each operation's bios are counted, the same twice; a plan without make-it-fail counts none")
  func counted() throws {
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let (first, hits1) = try runner.runRecordingHits(try Self.plan())
    #expect(first.passed, "\(first.violations) \(first.unjudged ?? [])")
    let bios = try Self.traced(try Self.plan())
    let (_, hits2) = try runner.runRecordingHits(try Self.plan())
    let counts = Self.perOp(hits1)
    // fsync writes the 16 dirty pages and commits the journal (its blocks and a flush).
    #expect((counts["fsync"] ?? 0) >= 2, "\(counts)")
    #expect(counts.values.reduce(0, +) == bios.count, "\(counts) \(bios)")
    #expect(Self.perOp(hits2) == counts, "the second scenario ran on the machine the first left")
    let (_, other) = try runner.runRecordingHits(try Self.plan("ext4-write-fsync"))
    #expect(!other.contains { $0.point == "io.submit" })
  }

  @Test(
    "a placement fails exactly its bio: the bios before it are the fault-free run's, that one never reaches the disk, fsync returns EIO and the kernel says fail_make_request"
  )
  func fires() throws {
    var plan = try Self.plan()
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    let (_, hits) = try runner.runRecordingHits(plan)
    let clean = try Self.traced(plan)
    // Hit k is the kth bio traced (none failed). The target: fsync's first write with data
    // (`block_bio_queue: 98,0 W 2048 + 128`); a failed read (a bitmap) ext4 may do without.
    let target = try #require(
      hits.first { h in
        h.point == "io.submit" && h.op == "fsync" && h.hit <= clean.count
          && Self.isDataWrite(clean[h.hit - 1])
      }, "\(clean)")
    // A placement past the last bio first: fail_make_request's private counter counts that run's
    // bios and fires none, so the counter is no longer where a fresh boot left it (0, a multiple
    // of every N): the placement below is exact only if the agent brings it in step.
    plan.faults = [FaultSpec(point: "io.submit", trigger: .nth(10_000), action: .fail(.io))]
    #expect(try runner.run(plan).fired.isEmpty)
    plan.faults = [FaultSpec(point: "io.submit", trigger: .nth(target.hit), action: .fail(.io))]
    let r = try runner.run(plan)
    let faulted = try Self.traced(plan)
    #expect(r.fired.map { "\($0.point)#\($0.hit) \($0.op)" } == ["io.submit#\(target.hit) fsync"])
    #expect(!(r.unjudged ?? []).contains { $0.kind == .placement }, "\(r.unjudged ?? [])")
    #expect(
      r.trace.contains {
        $0.contains("kernel: FAULT_INJECTION: forcing a failure") && $0.contains("fail_make_request")
      },
      "\(r.trace.suffix(20))")
    let n = target.hit
    #expect(Array(faulted.prefix(n - 1)) == Array(clean.prefix(n - 1)), "\(faulted) \(clean)")
    #expect(faulted.count < n || faulted[n - 1] != clean[n - 1], "bio \(n) reached the disk: \(faulted)")
    let op = try #require(r.ops.first { $0.op.hasPrefix("fsync") })
    #expect(op.outcome.errno == .io, "\(op.outcome) after bio \(n) of \(clean) failed")
    #expect(op.outcome.injected?.point == "io.submit")
  }

  @Test("a placement past the last bio fires nowhere, and that is said")
  func pastTheEnd() throws {
    var plan = try Self.plan()
    plan.faults = [FaultSpec(point: "io.submit", trigger: .nth(10_000), action: .fail(.io))]
    let r = try ScenarioRunner(registry: FaultlineEngines.registry).run(plan)
    #expect(r.fired.isEmpty)
    #expect((r.unfired ?? []).contains { $0.fault.contains("io.submit") })
    #expect(r.passed || (r.unjudged ?? []).allSatisfy { $0.kind != .placement }, "\(r.unjudged ?? [])")
  }
}
