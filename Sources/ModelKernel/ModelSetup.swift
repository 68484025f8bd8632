import FaultKit

/// The `setup:` keys every model engine shares: the device, how free space is laid out, and the
/// files that exist at the start. Engines add keys of their own through `extraKeys`.
public struct ModelSetup: Sendable {
  public var blocks: UInt64 = 4096
  public var blockSize: UInt64 = 4096
  /// Free space comes in runs of this many blocks (nil: one contiguous run).
  public var runBlocks: UInt64?
  /// Files to create: empty, or pre-written with `size` bytes of 0x5A and committed.
  public var files: [(path: String, size: UInt64)] = []
  /// The files whose data setup leaves in the page cache (`cached: true`), in plan order; the
  /// others start cold: their first read or partial write reads the device.
  public var cachedPaths: [String] = []
  /// The section itself, for the engine's own keys (nil when the plan has no setup).
  public let map: PlanMap?

  /// Blocks at the start of the device that hold the superblock and metadata.
  public static let reservedBlocks: UInt64 = 16
  /// The largest device (blocks × block size).
  public static let maxDeviceBytes: UInt64 = 1 << 30

  /// - Throws: `PlanError` for unknown keys (shared and `extraKeys` are known) and bad values.
  public init(_ value: PlanValue?, extraKeys: [String] = []) throws {
    guard let value else {
      map = nil
      return
    }
    let m = try PlanMap(value, path: "setup", keys: ["device", "free-space", "files"] + extraKeys)
    map = m
    if let d = m.value("device") {
      let dm = try PlanMap(d, path: "setup.device", keys: ["blocks", "block-size"])
      if let b = try dm.int("blocks", min: 64, max: 1 << 24) { blocks = UInt64(b) }
      if let bs = try dm.size("block-size") {
        guard [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].contains(bs) else {
          throw PlanError(
            dm.keyLocation("block-size"), key: "setup.device.block-size",
            expected: "a power of two from 512 to 64KiB", found: "\(bs)")
        }
        blockSize = bs
      }
      // The device, its page cache and the data oracle's copy of every file live in memory.
      guard blocks * blockSize <= ModelSetup.maxDeviceBytes else {
        throw PlanError(
          dm.location, key: "setup.device",
          expected: "a device of at most \(Size.format(ModelSetup.maxDeviceBytes)) (it is held in memory)",
          found: "\(blocks) blocks of \(Size.format(blockSize)), \(Size.format(blocks * blockSize))")
      }
    }
    if let f = m.value("free-space") {
      let fm = try PlanMap(f, path: "setup.free-space", keys: ["run-blocks"])
      if let r = try fm.int("run-blocks", min: 1, max: 1 << 20) { runBlocks = UInt64(r) }
    }
    if let fl = m.value("files") {
      var seen = Set<String>()
      for (i, item) in try fl.list("setup.files").enumerated() {
        let fm = try PlanMap(item, path: "setup.files[\(i)]", keys: ["path", "size", "cached"])
        guard let p = try fm.string("path"), p.hasPrefix("/") else {
          throw PlanError(
            fm.location, key: "setup.files[\(i)].path", expected: "an absolute path like /a",
            found: (try? fm.string("path")).flatMap { $0 } ?? "none")
        }
        guard seen.insert(p).inserted else {
          throw PlanError(
            fm.keyLocation("path"), key: "setup.files[\(i)].path", expected: "each file once", found: "\(p) again")
        }
        let size = try fm.size("size") ?? 0
        // Files are written whole at setup, each in whole blocks of the free space (which a
        // fragmented setup halves): what that cannot hold is an error here, not a setup that
        // runs out of space (or runs for hours) later.
        let taken = files.reduce(UInt64(0)) { $0 + ($1.size + blockSize - 1) / blockSize }
        let room = (freeBlocks - min(taken, freeBlocks)) * blockSize
        if size > room {
          throw PlanError(
            fm.value("size")?.location ?? fm.location, key: "setup.files[\(i)].size",
            expected:
              "at most \(Size.format(room)), what the device's free space (\(freeBlocks) blocks of \(Size.format(blockSize))\(runBlocks == nil ? "" : " in runs of \(runBlocks!)")) has left",
            found: Size.format(size))
        }
        files.append((p, size))
        if try fm.bool("cached") == true { cachedPaths.append(p) }
      }
    }
  }

  /// The largest file a setup's device holds: the device's bytes (`setup.device`, or the
  /// default device). For `EngineDescriptor.maxFileSize`; the setup has been checked already.
  @Sendable public static func maxFileSize(_ value: PlanValue?) -> UInt64? {
    guard let defaults = try? ModelSetup(nil) else { return nil }
    var blocks = defaults.blocks
    var blockSize = defaults.blockSize
    if case .map(let entries, _) = value, let d = entries.first(where: { $0.key == "device" })?.value,
      let dm = try? PlanMap(d, path: "setup.device", keys: ["blocks", "block-size"])
    {
      if let b = (try? dm.int("blocks", min: 1)) ?? nil { blocks = UInt64(b) }
      if let bs = (try? dm.size("block-size")) ?? nil { blockSize = bs }
    }
    let (bytes, overflow) = blocks.multipliedReportingOverflow(by: blockSize)
    return overflow ? nil : bytes
  }

  /// The blocks a fresh device of this setup has free: the data area, or with `run-blocks` R the
  /// free runs of R blocks that alternate with R used ones (as `ExtentAllocator` lays them out).
  public var freeBlocks: UInt64 {
    let data = blocks - ModelSetup.reservedBlocks
    guard let r = runBlocks else { return data }
    return data / (2 * r) * r + min(data % (2 * r), r)
  }

  /// The allocator a fresh device of this setup starts with.
  public func freshAllocator() -> ExtentAllocator {
    ExtentAllocator(blockCount: blocks, firstFree: ModelSetup.reservedBlocks, runBlocks: runBlocks)
  }
}
