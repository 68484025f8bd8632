import FaultKit
import Foundation

/// The `setup:` of a linux plan: which filesystem, on how large a disk, made and mounted how, the
/// files it starts with, and how its free space is cut up.
///
/// ```yaml
/// setup:
///   fs: ext4                  # ext4 | btrfs | xfs
///   device: 64MiB             # the ubd disk (xfs wants at least 300MiB)
///   mkfs: "-O ^metadata_csum" # extra mkfs options
///   mount: "data=ordered"     # mount options
///   files: [ { path: /a, size: 64KiB } ]
///   fragment: { run: 16KiB, fill: 90% }  # free space in runs of 16KiB, the disk 90% full
///   fragment: { free: 512KiB }           # the disk full but for this much (ENOSPC within reach)
///   kernel: /path/to/linux    # a UML kernel of your own (default: FAULTLINE_KERNEL, the cache)
///   memory: 256MiB            # the guest's memory
///   fail-nth: true            # count (and fail) each operation's kernel allocations: mem.alloc
///   errortags: true           # xfs: each operation is a hit of each XFS errortag point (xfs.*)
///   make-it-fail: true        # count (and fail) the bios submitted to the disk: io.submit
///   modules: [/path/x.ko]     # kernel modules loaded at boot, before the golden image
///   kmemleak: true            # boot with kmemleak on; at rest, scan for leaks (no-leak)
/// ```
public struct LinuxSetup: Sendable, Hashable {
  public enum FS: String, Sendable, Hashable, CaseIterable {
    case ext4, btrfs, xfs
    /// The smallest disk its mkfs accepts (xfsprogs 6.1 refuses devices under 300 MB).
    var minimumDevice: UInt64 {
      switch self {
      case .ext4: 8 << 20
      case .btrfs: 128 << 20
      case .xfs: 300 << 20
      }
    }
    var defaultDevice: UInt64 {
      switch self {
      case .ext4: 64 << 20
      case .btrfs: 256 << 20
      case .xfs: 320 << 20
      }
    }
    /// mkfs for an empty disk, quietly, with the options the plan adds.
    func mkfs(_ extra: [String], device: String) -> [String] {
      switch self {
      case .ext4: ["/sbin/mkfs.ext4", "-q", "-F"] + extra + [device]
      case .btrfs: ["/sbin/mkfs.btrfs", "-q", "-f"] + extra + [device]
      case .xfs: ["/sbin/mkfs.xfs", "-q", "-f"] + extra + [device]
      }
    }
    /// The filesystem's own checker, read-only.
    func fsck(device: String) -> [String] {
      switch self {
      case .ext4: ["/sbin/e2fsck", "-fn", device]
      case .btrfs: ["/bin/btrfs", "check", "--readonly", device]
      case .xfs: ["/sbin/xfs_repair", "-n", device]
      }
    }

    /// The checker's exit statuses that mean "it checked, and found damage" (e2fsck 4: errors
    /// left uncorrected; btrfs check and xfs_repair -n 1). 0 is clean; any other (e2fsck 8, a
    /// checker that is missing (127), killed or timed out) means it did not check.
    var fsckFoundDamage: Set<String> {
      switch self {
      case .ext4: ["1", "2", "4"]
      case .btrfs, .xfs: ["1"]
      }
    }
  }

  public var fs: FS
  public var deviceBytes: UInt64
  public var mkfsOptions: [String] = []
  public var mountOptions = ""
  public var files: [(path: String, size: UInt64)] = []
  /// Free space comes in runs of this many bytes (nil: as mkfs left it).
  public var fragmentRun: UInt64?
  /// How full the disk is after setup, in percent of its blocks (nil: only the files).
  public var fillPercent: Int?
  /// How much stays free after setup, in bytes (instead of `fillPercent`: less than 1% of a disk).
  public var freeBytes: UInt64?
  public var kernel: String?
  public var memoryBytes: UInt64 = 256 << 20
  /// `fail-nth: true`: every operation's kernel allocations are counted (`mem.alloc` hits) and
  /// can be failed. Off by default: how many allocations an operation makes depends on the
  /// kernel's timing (a journal commit that ran or not), so a plan's trace is then not
  /// byte-identical from run to run under load.
  public var failNth = false
  /// `errortags: true` (xfs): each operation is a hit of each `xfs.<tag>` point. Off by default:
  /// a tag has no pass counter, so most of those hits are operations that never pass the tag, and
  /// each such placement is an unjudged scenario ("never fired"), not a test.
  public var errortags = false
  /// `make-it-fail: true`: the bios submitted to the disk while an operation is in the guest are
  /// counted (`io.submit` hits) and one can be failed (fail_make_request). Off by default for
  /// the reason `fail-nth` is: the count follows the kernel's timing (a commit that ran or not).
  public var makeItFail = false
  /// `modules: [PATH]`: kernel modules (host paths; the guest's root is the host's) the machine
  /// loads after boot, before the golden image, in this order. Test-only in practice (the proof
  /// tests' planted defects): a machine with a module loaded serves only plans that load the same.
  public var modules: [String] = []
  /// `kmemleak: true`: the kernel boots with kmemleak on; each scenario starts with its findings
  /// cleared and ends with a scan at rest (`no-leak`). Off by default: a scan costs seconds
  /// (kmemleak reports only objects older than 5 s) and kmemleak has false positives.
  public var kmemleak = false

  /// The keys a linux setup takes.
  static let keys = [
    "fs", "device", "mkfs", "mount", "files", "fragment", "kernel", "memory", "fail-nth", "errortags", "make-it-fail",
    "modules", "kmemleak",
  ]

  /// - Throws: `PlanError` with the place in the plan and what was expected.
  public init(_ value: PlanValue?) throws {
    guard let value else {
      throw PlanError(
        SourceLocation(file: "", line: 1, column: 1), key: "setup",
        expected: "a setup with fs: ext4, btrfs or xfs", found: "no setup")
    }
    let m = try PlanMap(value, path: "setup", keys: Self.keys)
    let fsName = try m.require("fs", "ext4, btrfs or xfs")
    guard case .scalar(let name, _) = fsName, let fs = FS(rawValue: name) else {
      throw PlanError(
        fsName.location, key: "setup.fs", expected: "ext4, btrfs or xfs", found: fsName.found,
        hint: DidYouMean.hint((try? m.string("fs")).flatMap { $0 } ?? "", among: FS.allCases.map(\.rawValue)))
    }
    self.fs = fs
    deviceBytes = try m.size("device") ?? fs.defaultDevice
    guard deviceBytes >= fs.minimumDevice, deviceBytes <= 64 << 30 else {
      throw PlanError(
        m.keyLocation("device"), key: "setup.device",
        expected: "a disk size from \(Size.format(fs.minimumDevice)) (what mkfs.\(fs.rawValue) accepts) to 64GiB",
        found: Size.format(deviceBytes))
    }
    if let o = try m.string("mkfs") { mkfsOptions = o.split(separator: " ").map(String.init) }
    mountOptions = try m.string("mount") ?? ""
    if let fl = m.value("files") {
      var seen = Set<String>()
      for (i, item) in try fl.list("setup.files").enumerated() {
        let fm = try PlanMap(item, path: "setup.files[\(i)]", keys: ["path", "size"])
        guard let p = try fm.string("path"), p.hasPrefix("/"), !p.contains("/../"), p.count < 200 else {
          throw PlanError(
            fm.location, key: "setup.files[\(i)].path", expected: "an absolute path like /a",
            found: (try? fm.string("path")).flatMap { $0 } ?? "none")
        }
        guard seen.insert(p).inserted else {
          throw PlanError(
            fm.keyLocation("path"), key: "setup.files[\(i)].path", expected: "each file once", found: "\(p) again")
        }
        let size = try fm.size("size") ?? 0
        guard size <= deviceBytes / 2 else {
          throw PlanError(
            fm.keyLocation("size"), key: "setup.files[\(i)].size",
            expected: "at most half the disk (\(Size.format(deviceBytes / 2)))", found: Size.format(size))
        }
        files.append((p, size))
      }
    }
    if let f = m.value("fragment") {
      let fm = try PlanMap(f, path: "setup.fragment", keys: ["run", "fill", "free"])
      if let r = try fm.size("run") {
        guard r >= 4096, r % 4096 == 0, r <= 64 << 20 else {
          throw PlanError(
            fm.keyLocation("run"), key: "setup.fragment.run", expected: "a multiple of 4KiB up to 64MiB",
            found: Size.format(r))
        }
        fragmentRun = r
      }
      if let fill = fm.value("fill") {
        guard case .scalar(let s, _) = fill, s.hasSuffix("%"), let n = Int(s.dropLast()), (1...99).contains(n) else {
          throw PlanError(
            fill.location, key: "setup.fragment.fill", expected: "a percentage from 1% to 99%", found: fill.found)
        }
        fillPercent = n
      }
      if let free = try fm.size("free") {
        guard fillPercent == nil, free >= 4096, free <= deviceBytes / 2 else {
          throw PlanError(
            fm.keyLocation("free"), key: "setup.fragment.free",
            expected: "either fill or free, and free from 4KiB to half the disk (\(Size.format(deviceBytes / 2)))",
            found: Size.format(free))
        }
        freeBytes = free
      }
    }
    kernel = try m.string("kernel")
    failNth = try m.bool("fail-nth") ?? false
    errortags = try m.bool("errortags") ?? false
    makeItFail = try m.bool("make-it-fail") ?? false
    kmemleak = try m.bool("kmemleak") ?? false
    if let list = m.value("modules") {
      for (i, item) in try list.list("setup.modules").enumerated() {
        let path = try item.string("setup.modules[\(i)]")
        var isDir: ObjCBool = false
        guard path.hasPrefix("/"), path.hasSuffix(".ko"), !path.contains(","),
          FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue
        else {
          throw PlanError(
            item.location, key: "setup.modules[\(i)]",
            expected:
              "the absolute path of a kernel module file (.ko) that exists (scripts/build-test-modules builds the proof tests' one)",
            found: "'\(path)'")
        }
        guard !modules.contains(path) else {
          throw PlanError(
            item.location, key: "setup.modules[\(i)]", expected: "each module once", found: "\(path) again")
        }
        modules.append(path)
      }
    }
    if errortags && fs != .xfs {
      throw PlanError(
        m.value("errortags")?.location ?? m.location, key: "setup.errortags",
        expected: "errortags only with fs: xfs (the tags are XFS's)", found: "fs: \(fs.rawValue)")
    }
    if let mem = try m.size("memory") {
      guard mem >= 64 << 20, mem <= 4 << 30 else {
        throw PlanError(
          m.keyLocation("memory"), key: "setup.memory", expected: "64MiB to 4GiB", found: Size.format(mem))
      }
      memoryBytes = mem
    }
  }

  /// The same setup gives the same golden image: what a machine is reused for.
  public var key: String {
    var parts = [fs.rawValue, "\(deviceBytes)", mkfsOptions.joined(separator: " "), mountOptions]
    parts += files.map { "\($0.path)=\($0.size)" }
    parts += [
      "run=\(fragmentRun ?? 0)", "fill=\(fillPercent ?? 0)", "free=\(freeBytes ?? 0)", "mem=\(memoryBytes)",
      kernel ?? "",
    ]
    // What the kernel runs is part of the machine: a module loaded, kmemleak on.
    parts += ["modules=" + modules.joined(separator: ","), "kmemleak=\(kmemleak)"]
    return parts.joined(separator: "|")
  }

  public static func == (a: LinuxSetup, b: LinuxSetup) -> Bool { a.key == b.key }
  public func hash(into h: inout Hasher) { h.combine(key) }
}
