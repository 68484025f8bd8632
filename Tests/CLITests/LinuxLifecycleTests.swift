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

  @Test("a sweep of a linux plan in two workers ends with every machine gone")
  func sweepEnds() throws {
    let dir = try CLITests.scratch("linux-sweep")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try Supervised.run(
      ["sweep", Self.plan, "--points", "power-cut", "--jobs", "2", "--quiet", "--report-dir", dir.path],
      seconds: 300)
    #expect(!r.hung, "\(r.stdout)\(r.stderr)")
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains(" passed, 0 failed"), "\(r.stdout)")
    #expect(r.leftovers.isEmpty, "left running: \(r.leftovers)")
    #expect(Self.machineDirs(r.pids).isEmpty, "left in /tmp: \(Self.machineDirs(r.pids))")
  }

  @Test("kill -9 of the sweep's group while its machines run leaves none running")
  func killedWhileBooted() throws {
    let dir = try CLITests.scratch("linux-kill")
    defer { try? FileManager.default.removeItem(at: dir) }
    var sawMachine = false
    let r = try Supervised.run(
      ["sweep", Self.plan, "--jobs", "2", "--quiet", "--report-dir", dir.path], seconds: 300
    ) { s in
      // Bounded: 600 polls of 100 ms.
      for _ in 0..<600 where !sawMachine {
        sawMachine = s.scan().keys.contains { pid in
          (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("linux") ?? false
        }
        if !sawMachine { usleep(100_000) }
      }
      kill(-s.group, SIGKILL)
    }
    #expect(sawMachine, "no User-Mode Linux process appeared")
    #expect(!r.hung)
    #expect(r.leftovers.isEmpty, "left running after kill -9: \(r.leftovers)")
  }
}
