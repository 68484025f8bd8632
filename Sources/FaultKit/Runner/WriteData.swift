/// The bytes a write puts in a file: every byte says which file, which offset and which write put
/// it there, so a block written at the wrong offset, into the wrong file or left from an older
/// write never reads back as the right one.
///
/// The file is cut into 16-byte units aligned on file offsets. Unit bytes 0–7 hold the unit's
/// file offset (little-endian), 8–11 the file id (FNV-1a 32 of the path), 12–14 the write's
/// generation (its place in the plan, low 24 bits, little-endian), 15 the plan's `pattern` byte.
/// `faultline.h` has the same definition for C engines (`fl_stamp_byte`), and the linux engine's
/// guest agent writes the same bytes.
public struct WriteData: Sendable, Hashable, CustomStringConvertible {
  public let file: UInt32
  /// The write's place among the plan's operations (1-based, tasks in plan order, then ops);
  /// 0 for writes made outside a plan (setup, operations built in code).
  public let generation: UInt32
  public let pattern: UInt8

  public init(file: UInt32, generation: UInt32, pattern: UInt8) {
    self.file = file
    self.generation = generation
    self.pattern = pattern
  }

  /// The data `path` gets from write number `generation` with `pattern`.
  public init(path: String, generation: UInt32, pattern: UInt8) {
    self.init(file: Self.fileID(path), generation: generation, pattern: pattern)
  }

  /// FNV-1a 32 over the path's bytes.
  public static func fileID(_ path: String) -> UInt32 {
    var h: UInt32 = 2_166_136_261
    for b in path.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
    return h
  }

  /// The byte this write puts at file offset `offset`.
  @inline(__always)
  public func byte(at offset: UInt64) -> UInt8 {
    let k = Int(offset & 15)
    switch k {
    case 0..<8: return UInt8(truncatingIfNeeded: (offset &- UInt64(k)) >> (8 * UInt64(k)))
    case 8..<12: return UInt8(truncatingIfNeeded: file >> (8 * UInt32(k - 8)))
    case 12..<15: return UInt8(truncatingIfNeeded: generation >> (8 * UInt32(k - 12)))
    default: return pattern
    }
  }

  /// Writes the bytes for file offsets [offset, offset + b.count) into `b`: whole units as two
  /// 8-byte stores (the unit's offset, then file id, generation and pattern, the same in every
  /// unit), the ragged ends a byte at a time. Every write and read of every scenario stamps or
  /// checks through here.
  public func fill(_ b: UnsafeMutableBufferPointer<UInt8>, at offset: UInt64) {
    guard let base = b.baseAddress else { return }
    var i = 0
    while i < b.count && (offset &+ UInt64(i)) & 15 != 0 {
      base[i] = byte(at: offset &+ UInt64(i))
      i += 1
    }
    let tail = UInt64(file) | UInt64(generation & 0xFF_FFFF) << 32 | UInt64(pattern) << 56
    let raw = UnsafeMutableRawPointer(base)
    while i + 16 <= b.count {
      raw.storeBytes(of: (offset &+ UInt64(i)).littleEndian, toByteOffset: i, as: UInt64.self)
      raw.storeBytes(of: tail.littleEndian, toByteOffset: i + 8, as: UInt64.self)
      i += 16
    }
    while i < b.count {
      base[i] = byte(at: offset &+ UInt64(i))
      i += 1
    }
  }

  /// The bytes for file offsets [offset, offset + count).
  public func bytes(at offset: UInt64, count: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { b, n in
      fill(b, at: offset)
      n = count
    }
  }

  public var description: String { "write \(generation) (pattern 0x\(String(pattern, radix: 16, uppercase: true)))" }

  /// What a whole 16-byte unit read at file offset `offset` says of itself, if it is one of ours:
  /// `file 0x1A2B3C4D offset 8KiB write 3`. For messages that say where misplaced bytes came from.
  public static func describe(_ unit: ArraySlice<UInt8>, at offset: UInt64, paths: [String]) -> String? {
    guard unit.count == 16, offset & 15 == 0 else { return nil }
    let u = Array(unit)
    var off: UInt64 = 0
    for k in 0..<8 { off |= UInt64(u[k]) << (8 * UInt64(k)) }
    var file: UInt32 = 0
    for k in 0..<4 { file |= UInt32(u[8 + k]) << (8 * UInt32(k)) }
    var gen: UInt32 = 0
    for k in 0..<3 { gen |= UInt32(u[12 + k]) << (8 * UInt32(k)) }
    guard off & 15 == 0, off < 1 << 48, file != 0 || gen != 0 else { return nil }
    let name = paths.first { fileID($0) == file } ?? "file 0x" + String(file, radix: 16, uppercase: true)
    return "\(name) offset \(Size.format(off)) write \(gen)"
  }
}

extension Operation {
  /// The data this write-like operation stores: the harness's stamped bytes for its path,
  /// generation and pattern.
  public var writeData: WriteData {
    WriteData(path: path, generation: generation ?? 0, pattern: pattern ?? 0xA5)
  }
}
