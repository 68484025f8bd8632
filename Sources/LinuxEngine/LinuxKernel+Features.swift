import FaultKit
import Foundation
import Synchronization

/// What a kernel was built with, as far as faultline's points and invariants care: read from the
/// `.config` beside the binary, else from the config the binary embeds (CONFIG_IKCONFIG, found the
/// way the kernel's scripts/extract-ikconfig finds it), else unknown. A plan for a filesystem the
/// kernel lacks is refused when the plan is loaded.
extension LinuxKernel {
  /// An option and what needs it.
  struct Option: Sendable {
    let name: String
    let gives: String
    var points: [String] = []
    var invariants: [String] = []
    var fs: LinuxSetup.FS?
  }

  /// The options reported, in this order. Points and invariants an engine does not declare are
  /// left out of what is unavailable.
  static let options: [Option] = [
    Option(name: "EXT4_FS", gives: "ext4 (setup fs: ext4)", fs: .ext4),
    Option(name: "BTRFS_FS", gives: "btrfs (setup fs: btrfs)", fs: .btrfs),
    Option(name: "XFS_FS", gives: "xfs (setup fs: xfs)", fs: .xfs),
    Option(
      name: "FAULT_INJECTION", gives: "the kernel's fault-injection framework", points: ["mem.alloc", "io.submit"]),
    Option(name: "FAILSLAB", gives: "failing slab allocations (failslab)", points: ["mem.alloc"]),
    Option(name: "FAIL_PAGE_ALLOC", gives: "failing page allocations (fail_page_alloc)", points: ["mem.alloc"]),
    Option(
      name: "FAIL_MAKE_REQUEST", gives: "failing block requests inside the guest (fail_make_request)",
      points: ["io.submit"]),
    Option(
      name: "EVENT_TRACING", gives: "trace events (the block tracepoints that count a disk's bios)",
      points: ["io.submit"]),
    Option(
      name: "PROVE_LOCKING", gives: "lockdep's reports (lock order, locks held, RCU)",
      invariants: ["locks-released"]),
    Option(
      name: "DETECT_HUNG_TASK", gives: "the hung-task detector's reports (a task blocked in D state, its stack)",
      invariants: ["no-hang"]),
    Option(name: "XFS_DEBUG", gives: "xfs's own assertions (ASSERT) reported in the kernel log"),
    Option(name: "BTRFS_ASSERT", gives: "btrfs's own assertions reported in the kernel log"),
    Option(
      name: "PROC_PAGE_MONITOR", gives: "/proc/kpageflags (every page frame's flags: locked, writeback)",
      invariants: ["pages-unlocked"]),
    Option(
      name: "DEBUG_KMEMLEAK", gives: "kmemleak's reports of unreferenced objects (setup kmemleak: true)",
      invariants: ["no-leak"]),
    Option(name: "MODULES", gives: "loading kernel modules (setup modules: [PATH], the proof tests' planted defects)"),
    Option(name: "KASAN", gives: "memory-safety reports (KASAN)"),
  ]

  /// Where the options came from, and the options (`CONFIG_X` → value); nil options: unknown.
  struct KnownConfig: Sendable {
    let source: String
    let config: [String: String]?
  }

  private static let read = Mutex<[String: KnownConfig]>([:])

  /// The kernel's config: beside it, else embedded in it (read once per path and process).
  var knownConfig: KnownConfig {
    if let config {
      return KnownConfig(source: "config: \((path as NSString).deletingLastPathComponent)/.config", config: config)
    }
    if let held = Self.read.withLock({ $0[path] }) { return held }
    let known: KnownConfig
    if let text = Self.embeddedConfig(path) {
      known = KnownConfig(source: "config: embedded in the binary (IKCONFIG)", config: Self.parse(text))
    } else {
      known = KnownConfig(source: "no .config beside it and none embedded (IKCONFIG)", config: nil)
    }
    Self.read.withLock { $0[path] = known }
    return known
  }

  static func parse(_ text: String) -> [String: String] {
    var c: [String: String] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      c[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return c
  }

  /// The config a kernel built with CONFIG_IKCONFIG carries: gzip data between the markers
  /// `IKCFG_ST` and `IKCFG_ED`. nil when there is none or it does not unpack.
  static func embeddedConfig(_ path: String) -> String? {
    guard let binary = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped),
      let start = binary.range(of: Data("IKCFG_ST".utf8)),
      let end = binary.range(of: Data("IKCFG_ED".utf8), in: start.upperBound..<binary.endIndex)
    else { return nil }
    let gz = binary.subdata(in: start.upperBound..<end.lowerBound)
    guard gz.count > 2, gz[gz.startIndex] == 0x1F, gz[gz.startIndex + 1] == 0x8B else { return nil }
    return gunzip(gz)
  }

  /// `gzip -dc` of `data` (a temporary file in, the output back); nil when gzip fails.
  static func gunzip(_ data: Data) -> String? {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fl-ikconfig-\(getpid()).gz")
    defer { try? FileManager.default.removeItem(at: tmp) }
    guard (try? data.write(to: tmp)) != nil else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["gzip", "-dc", tmp.path]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let text = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return String(decoding: text, as: UTF8.self)
  }

  /// The options this kernel has for the engine's `points` and `invariants`, and what they leave
  /// unavailable.
  func features(points: [String], invariants: [String]) -> EngineFeatures {
    let known = knownConfig
    let present: (Option) -> Bool? = { o in known.config.map { $0["CONFIG_" + o.name] == "y" } }
    let features = Self.options.map { EngineFeatures.Feature(name: $0.name, present: present($0), gives: $0.gives) }
    var unavailable: [String] = []
    let lacking = Self.options.filter { present($0) == false }
    for p in points {
      let needs = lacking.filter { $0.points.contains(p) }.map(\.name)
      if !needs.isEmpty { unavailable.append("point \(p): needs \(needs.joined(separator: ", "))") }
    }
    for i in invariants {
      for o in lacking where o.invariants.contains(i) {
        unavailable.append("invariant \(i): sees nothing of \(o.gives) (needs \(o.name))")
      }
    }
    for o in lacking { if let fs = o.fs { unavailable.append("setup fs: \(fs.rawValue): needs \(o.name)") } }
    return EngineFeatures(
      engine: LinuxModel.name, source: "kernel \(path) (\(known.source))", features: features,
      unavailable: unavailable,
      unknown: known.config == nil
        ? "\(path) has no .config beside it and embeds none (CONFIG_IKCONFIG): points and invariants that need an option may see nothing"
        : nil)
  }

  /// The kernel a plan's setup boots, and its features; without a kernel, says so.
  static func features(setup: PlanValue?, points: [String], invariants: [String]) -> EngineFeatures {
    let explicit = (try? LinuxSetup(setup))?.kernel
    guard let kernel = try? locate(explicit: explicit) else {
      return EngineFeatures(
        engine: LinuxModel.name, source: "no kernel", features: [], unavailable: [], unknown: howToBuild)
    }
    return kernel.features(points: points, invariants: invariants)
  }

  /// Refuses a setup whose filesystem, kmemleak or modules the kernel it boots was built without
  /// (a kernel whose options are unknown, or no kernel at all, is left to boot: its errors say more).
  /// - Throws: `PlanError` at `setup.fs`, `setup.kmemleak` or `setup.modules`, naming the option.
  static func checkFilesystem(_ setup: PlanValue?) throws {
    guard let setup, let s = try? LinuxSetup(setup), let kernel = try? locate(explicit: s.kernel),
      let config = kernel.knownConfig.config, let option = options.first(where: { $0.fs == s.fs })
    else { return }
    let m = try PlanMap(setup, path: "setup", keys: LinuxSetup.keys)
    for (key, name, wanted) in [("kmemleak", "DEBUG_KMEMLEAK", s.kmemleak), ("modules", "MODULES", !s.modules.isEmpty)]
    where wanted && config["CONFIG_" + name] != "y" {
      throw PlanError(
        m.value(key)?.location ?? m.keyLocation(key), key: "setup.\(key)",
        expected: "an option kernel \(kernel.path) was built with", found: "its config has no CONFIG_\(name)=y")
    }
    guard config["CONFIG_" + option.name] != "y" else { return }
    let fs = try m.require("fs", "ext4, btrfs or xfs")
    throw PlanError(
      fs.location, key: "setup.fs", expected: "a filesystem kernel \(kernel.path) was built with",
      found: "\(s.fs.rawValue), but its config has no CONFIG_\(option.name)=y")
  }
}
