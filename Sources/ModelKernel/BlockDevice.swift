import FaultKit

/// An in-memory block device with a checksum per block. Storage is sparse: only written blocks
/// hold bytes; unwritten blocks read as zeros. The device also keeps the committed metadata root
/// an engine wrote at its last commit, which is what `recover` mounts from.
public final class BlockDevice: @unchecked Sendable {
  public let blockSize: UInt64
  public let blockCount: UInt64
  private var blocks: [UInt64: [UInt8]] = [:]
  private var checksums: [UInt64: UInt64] = [:]
  /// The committed metadata an engine mounts from (its own type).
  public var committedRoot: (any Sendable)?

  public init(blockCount: UInt64, blockSize: UInt64) {
    self.blockSize = blockSize
    self.blockCount = blockCount
  }

  /// Writes one whole block and records its checksum.
  public func write(_ block: UInt64, _ data: ArraySlice<UInt8>) {
    precondition(block < blockCount && UInt64(data.count) == blockSize, "write outside the device")
    let bytes = Array(data)
    blocks[block] = bytes
    checksums[block] = Checksum.of(bytes[...])
  }

  /// Reads one block; a block whose bytes no longer match their checksum fails with EIO.
  public func read(_ block: UInt64) throws(FSError) -> [UInt8] {
    precondition(block < blockCount, "read outside the device")
    guard let b = blocks[block] else { return Array(repeating: 0, count: Int(blockSize)) }
    // unreachable error path in ext4-model, xfs-model: a block fails its checksum only after a
    // `corrupt` operation, which only btrfs-model offers (ext4 and xfs keep no data checksums).
    guard Checksum.of(b[...]) == checksums[block] else { throw FSError(.io) }
    return b
  }

  /// The bytes stored in a block as they are, checksum unchecked (zeros if never written).
  public func peek(_ block: UInt64) -> ArraySlice<UInt8> {
    blocks[block]?[...] ?? Array(repeating: 0, count: Int(blockSize))[...]
  }

  /// Flips a byte without updating the checksum: a torn or rotted block (for tests and plans).
  public func corrupt(_ block: UInt64) {
    guard var b = blocks[block] else { return }
    b[0] ^= 0xFF
    blocks[block] = b
  }
}

/// A fast 64-bit checksum of block contents (FNV-1a over 8-byte words, then mixed).
public enum Checksum {
  public static func of(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    bytes.withUnsafeBytes { raw in
      let words = raw.count / 8
      for i in 0..<words {
        h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01B3
      }
      for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x100_0000_01B3 }
    }
    h ^= h >> 33
    h = h &* 0xFF51_AFD7_ED55_8CCD
    return h ^ (h >> 33)
  }
}
