import Foundation
import Testing

/// A kernel of the user's own (`--kernel`): what it has is said up front by `points` and `sweep`,
/// and a plan for a filesystem it lacks is refused before anything boots (exit 2, where and why).
/// The fake kernels here have only a .config: nothing boots; the last test boots the real one.
@Suite("linux: a kernel's features up front; reruns of the real kernel", .serialized)
struct LinuxFeaturesTests {
  static func fakeKernel(_ name: String) throws -> URL {
    let dir = try CLITests.scratch("kernel-\(name)")
    let linux = dir.appendingPathComponent("linux")
    try Data("#!/bin/sh\nexit 1\n".utf8).write(to: linux)
    chmod(linux.path, 0o755)
    let config = ["CONFIG_EXT4_FS=y", "# CONFIG_XFS_FS is not set", "CONFIG_BTRFS_FS=y", "CONFIG_FAULT_INJECTION=y"]
    try Data((config.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent(".config"))
    return dir
  }

  @Test("faultline points linux says what the kernel has and lacks, and what that leaves unavailable")
  func points() throws {
    let dir = try Self.fakeKernel("points")
    defer { try? FileManager.default.removeItem(at: dir) }
    let kernel = dir.appendingPathComponent("linux").path
    let r = try Supervised.run(["points", "--engine", "linux", "--kernel", kernel], seconds: 60)
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("  linux: kernel \(kernel) (config: \(dir.path)/.config)\n"), "\(r.stdout)")
    #expect(r.stdout.contains("    has: EXT4_FS BTRFS_FS FAULT_INJECTION\n"), "\(r.stdout)")
    #expect(r.stdout.contains("    lacks: XFS_FS FAILSLAB"), "\(r.stdout)")
    #expect(r.stdout.contains("    unavailable: setup fs: xfs: needs XFS_FS\n"), "\(r.stdout)")
  }

  @Test("a plan for a filesystem the kernel lacks: exit 2 at setup.fs, naming the option, before anything boots")
  func missingFilesystem() throws {
    let dir = try Self.fakeKernel("nofs")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plan = dir.appendingPathComponent("x.yaml")
    try Data(
      """
      plan: x
      engine: linux
      setup:
        fs: xfs
        fail-nth: true
        make-it-fail: true
      tasks:
        - name: a
          ops:
            - write: { path: /a, offset: 0, length: 4KiB }

      """.utf8
    ).write(to: plan)
    let kernel = dir.appendingPathComponent("linux").path
    let r = try Supervised.run(
      ["sweep", plan.path, "--kernel", kernel, "--report-dir", dir.appendingPathComponent("out").path], seconds: 60)
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("\(plan.path):4:7"), "\(r.stderr)")
    #expect(r.stderr.contains("CONFIG_XFS_FS=y"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/results.json").path))
  }

  @Test("a real linux sweep says the kernel's features first and in results.json, and reruns its failure")
  func realSweep() throws {
    let dir = try CLITests.scratch("linux-reruns")
    defer { try? FileManager.default.removeItem(at: dir) }
    // The write-fsync plan, stopped by the step bound before its read: the data oracle cannot
    // read /a back, a failure on every run (so it reproduces in every rerun).
    let text =
      try String(contentsOfFile: "Plans/linux/ext4-write-fsync.yaml", encoding: .utf8)
      .replacingOccurrences(of: "plan: linux-ext4-write-fsync", with: "plan: linux-bounded")
      .replacingOccurrences(of: "sweep: { points: [\"*\"], depth: 1 }", with: "sweep: { points: [io.flush], depth: 1 }")
      + "limits: { steps: 2 }\n"
    let plan = dir.appendingPathComponent("bounded.yaml")
    try Data(text.utf8).write(to: plan)
    let out = dir.appendingPathComponent("out")
    let r = try Supervised.run(
      ["sweep", plan.path, "--jobs", "1", "--reruns", "2", "--report-dir", out.path], seconds: 300)
    #expect(!r.hung && r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.leftovers.isEmpty, "left running: \(r.leftovers)")
    // Said before the sweep starts.
    let kernelLine = try #require(r.stdout.range(of: "linux: kernel "), "\(r.stdout)")
    let sweepLine = try #require(r.stdout.range(of: "sweep: 1 plan(s)"), "\(r.stdout)")
    #expect(kernelLine.lowerBound < sweepLine.lowerBound)
    #expect(r.stdout.contains("  lacks: KASAN\n"), "\(r.stdout)")
    #expect(r.stdout.contains("   reruns: reproduced 2 of 2 reruns\n"), "\(r.stdout)")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json")))
    let results = try #require(json as? [String: Any])
    let features = try #require((results["features"] as? [[String: Any]])?.first)
    #expect(features["engine"] as? String == "linux")
    let options = (features["features"] as? [[String: Any]] ?? []).map {
      ($0["name"] as? String ?? "", $0["present"] as? Bool)
    }
    #expect(options.contains { $0 == ("XFS_FS", true) } && options.contains { $0 == ("KASAN", false) }, "\(options)")
    let repro = try String(contentsOf: out.appendingPathComponent("repro/linux-bounded-repro-1.yaml"), encoding: .utf8)
    #expect(repro.hasPrefix("# Engine linux is not deterministic"), "\(repro)")
  }
}
