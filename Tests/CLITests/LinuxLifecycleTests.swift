import Foundation
import Testing

/// The linux engine's machines (User-Mode Linux processes, each in a process group of its own)
/// under a sweep: gone when it ends, and when its group is killed while they run; no machine
/// directory left in /tmp. Uses the kernel scripts/test exports (or the cached one).
@Suite("linux: machines under a sweep", .serialized)
struct LinuxLifecycleTests {
  static let plan = "Plans/linux/ext4-write-fsync.yaml"

  /// Machine directories (`faultline-uml-PID-N`) of these processes still in /tmp.
  static func machineDirs(_ pids: [Int32]) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []
    return names.filter { n in pids.contains { n.hasPrefix("faultline-uml-\($0)-") } }
  }

  /// The process groups of the machines (User-Mode Linux processes, `linux` by name) among what
  /// the run started so far. UML's helpers (a guest process's host process, ptraced) are in them.
  static func machineGroups(_ s: Supervised) -> Set<Int32> {
    Set(
      s.scan().keys.compactMap { pid -> Int32? in
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        return comm.hasPrefix("linux") ? Proc.stat(pid)?.pgrp : nil
      })
  }

  /// What is still alive in these groups, after a few seconds' grace (150 polls of 20 ms).
  static func groupLeftovers(_ groups: Set<Int32>) -> [String] {
    var left = Proc.members(ofGroups: groups)
    for _ in 0..<150 where !left.isEmpty {
      usleep(20_000)
      left = Proc.members(ofGroups: groups)
    }
    return left
  }

  @Test("a sweep of a linux plan in two workers ends with every machine gone, helpers and all")
  func sweepEnds() throws {
    let dir = try CLITests.scratch("linux-sweep")
    defer { try? FileManager.default.removeItem(at: dir) }
    var groups: Set<Int32> = []
    let r = try Supervised.run(
      ["sweep", Self.plan, "--points", "power-cut", "--jobs", "2", "--quiet", "--report-dir", dir.path],
      seconds: 300
    ) { s in
      // Bounded: 3000 polls of 100 ms, past the run's own bound.
      for _ in 0..<3000 where s.process.isRunning {
        groups.formUnion(Self.machineGroups(s))
        usleep(100_000)
      }
    }
    #expect(!groups.isEmpty, "no User-Mode Linux process appeared")
    #expect(Self.groupLeftovers(groups).isEmpty, "left in the machines' groups: \(Self.groupLeftovers(groups))")
    #expect(!r.hung, "\(r.stdout)\(r.stderr)")
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains(" passed, 0 failed"), "\(r.stdout)")
    #expect(r.leftovers.isEmpty, "left running: \(r.leftovers)")
    #expect(Self.machineDirs(r.pids).isEmpty, "left in /tmp: \(Self.machineDirs(r.pids))")
  }

  /// The progress line counts what the summary counts: a scenario the oracles could not judge
  /// is unjudged there too, not failed (it said "18 failed" above "0 failed, 18 unjudged").
  @Test("the progress line counts unjudged scenarios apart from failures, as results.json does")
  func progressUnjudged() throws {
    let dir = try CLITests.scratch("linux-progress")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try Supervised.run(
      ["sweep", Self.plan, "--points", "io.write", "--jobs", "2", "--report-dir", dir.path], seconds: 300)
    // Exit 1: with no baseline (--known) the unjudged groups count as new.
    #expect(!r.hung && r.status == 1, "\(r.stdout)\(r.stderr)")
    let results =
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any]
    let plans = results?["plans"] as? [[String: Any]] ?? []
    let groups = plans.flatMap { $0["failures"] as? [[String: Any]] ?? [] }
    let unjudged = groups.filter { $0["unjudged"] as? Bool == true }.reduce(0) { $0 + ($1["count"] as? Int ?? 0) }
    #expect(unjudged > 0, "the io.write sweep of \(Self.plan) has unjudged scenarios (shut-down filesystem)")
    let last = r.stderr.split(separator: "\n").last { $0.contains(" scenarios, ") }.map(String.init) ?? ""
    #expect(last.hasSuffix(" 0 failed, \(unjudged) unjudged"), "\(last)")
  }

  @Test("kill -9 of the sweep's group while its machines run leaves none running")
  func killedWhileBooted() throws {
    let dir = try CLITests.scratch("linux-kill")
    defer { try? FileManager.default.removeItem(at: dir) }
    var groups: Set<Int32> = []
    let r = try Supervised.run(
      ["sweep", Self.plan, "--jobs", "2", "--quiet", "--report-dir", dir.path], seconds: 300
    ) { s in
      // Bounded: 600 polls of 100 ms until both workers' machines run and their guests have
      // started processes (a guest process is a host helper in its machine's group).
      for _ in 0..<600 where groups.count < 2 || Proc.members(ofGroups: groups).count < 4 {
        groups.formUnion(Self.machineGroups(s))
        usleep(100_000)
      }
      kill(-s.group, SIGKILL)
    }
    #expect(!groups.isEmpty, "no User-Mode Linux process appeared")
    #expect(!r.hung)
    #expect(r.leftovers.isEmpty, "left running after kill -9: \(r.leftovers)")
    // What a parent-death SIGKILL of the machine alone left once: a stopped helper, reparented
    // to init, still in the machine's group. The keeper kills the group.
    #expect(Self.groupLeftovers(groups).isEmpty, "left in the machines' groups: \(Self.groupLeftovers(groups))")
  }
}
