import FaultKit
import Foundation
import Testing

@testable import LinuxEngine

/// What a kernel of the user's own was built with, read on the host (no boot): from the .config
/// beside it, from the config it embeds (IKCONFIG), or unknown; and what that leaves unavailable.
@Suite("linux: a kernel's features, host only")
struct LinuxKernelFeaturesTests {
  /// A directory with an executable `linux` holding `binary`, and `config` beside it when given.
  static func fakeKernel(_ name: String, config: [String]?, binary: Data = Data("#!/bin/sh\nexit 1\n".utf8)) throws
    -> URL
  {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-kernel-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let linux = dir.appendingPathComponent("linux")
    try binary.write(to: linux)
    chmod(linux.path, 0o755)
    if let config {
      try Data((config.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent(".config"))
    }
    return dir
  }

  static let partial = [
    "CONFIG_EXT4_FS=y", "CONFIG_BTRFS_FS=y", "# CONFIG_XFS_FS is not set", "CONFIG_FAULT_INJECTION=y",
    "CONFIG_FAILSLAB=y", "# CONFIG_FAIL_PAGE_ALLOC is not set", "CONFIG_DETECT_HUNG_TASK=y", "CONFIG_KASAN=y",
  ]

  @Test("the .config beside the kernel: what it has, what it lacks, and the points and invariants that need those")
  func besideIt() throws {
    let dir = try Self.fakeKernel("beside", config: Self.partial)
    defer { try? FileManager.default.removeItem(at: dir) }
    let k = LinuxKernel(at: dir.appendingPathComponent("linux").path)
    let f = k.features(
      points: ["io.write", "mem.alloc", "io.submit", "power-cut"],
      invariants: ["locks-released", "no-hang", "kernel-clean"])
    #expect(f.unknown == nil)
    #expect(f.source == "kernel \(k.path) (config: \(dir.path)/.config)")
    let has = f.features.filter { $0.present == true }.map(\.name)
    #expect(has == ["EXT4_FS", "BTRFS_FS", "FAULT_INJECTION", "FAILSLAB", "DETECT_HUNG_TASK", "KASAN"])
    #expect(f.features.allSatisfy { $0.present != nil })
    #expect(
      f.unavailable == [
        "point mem.alloc: needs FAIL_PAGE_ALLOC",
        "point io.submit: needs FAIL_MAKE_REQUEST, EVENT_TRACING",
        "invariant locks-released: sees nothing of lockdep's reports (lock order, locks held, RCU) (needs PROVE_LOCKING)",
        "setup fs: xfs: needs XFS_FS",
      ])
    #expect(
      f.lines.contains(
        "  lacks: XFS_FS FAIL_PAGE_ALLOC FAIL_MAKE_REQUEST EVENT_TRACING PROVE_LOCKING XFS_DEBUG BTRFS_ASSERT PROC_PAGE_MONITOR DEBUG_KMEMLEAK MODULES"
      ))
  }

  @Test("no .config beside it: the config the binary embeds (IKCONFIG), found by its markers")
  func embedded() throws {
    let plain = FileManager.default.temporaryDirectory.appendingPathComponent("fl-ikconfig-src-\(getpid())")
    defer { try? FileManager.default.removeItem(at: plain) }
    try Data((Self.partial.joined(separator: "\n") + "\n").utf8).write(to: plain)
    let gzip = Process()
    gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    gzip.arguments = ["gzip", "-c", plain.path]
    let out = Pipe()
    gzip.standardOutput = out
    try gzip.run()
    let gz = out.fileHandleForReading.readDataToEndOfFile()
    gzip.waitUntilExit()
    let binary =
      Data(repeating: 0x7F, count: 4096) + Data("IKCFG_ST".utf8) + gz + Data("IKCFG_ED".utf8)
      + Data(repeating: 0, count: 100)
    let dir = try Self.fakeKernel("embedded", config: nil, binary: binary)
    defer { try? FileManager.default.removeItem(at: dir) }
    let k = LinuxKernel(at: dir.appendingPathComponent("linux").path)
    #expect(k.config == nil)
    let f = k.features(points: [], invariants: [])
    #expect(f.source.hasSuffix("(config: embedded in the binary (IKCONFIG))"), "\(f.source)")
    #expect(f.features.first { $0.name == "XFS_FS" }?.present == false)
    #expect(f.features.first { $0.name == "BTRFS_FS" }?.present == true)
    #expect(f.unavailable == ["setup fs: xfs: needs XFS_FS"])
  }

  @Test("neither: every option unknown, said so, nothing claimed unavailable")
  func unknown() throws {
    let dir = try Self.fakeKernel("unknown", config: nil)
    defer { try? FileManager.default.removeItem(at: dir) }
    let f = LinuxKernel(at: dir.appendingPathComponent("linux").path).features(
      points: ["mem.alloc"], invariants: ["locks-released"])
    #expect(f.features.allSatisfy { $0.present == nil })
    #expect(f.unavailable.isEmpty)
    #expect(f.unknown?.contains("has no .config beside it and embeds none (CONFIG_IKCONFIG)") == true)
    #expect(f.lines.contains { $0.hasPrefix("  options unknown: ") })
  }

  @Test("the kernel faultline builds has what its plans need")
  func cachedKernel() throws {
    let k = try LinuxKernel.locate(explicit: nil)
    let f = k.features(points: LinuxModel.catalog.points.map(\.name), invariants: [])
    #expect(f.unknown == nil)
    #expect(f.unavailable.isEmpty, "\(f.unavailable)")
  }
}
