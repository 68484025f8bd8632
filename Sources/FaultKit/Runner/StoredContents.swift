/// What a file holds on the device, read from a snapshot's extent map and the engine's device
/// blocks, never through the engine's read path: how the data oracle learns what setup wrote
/// without reading it through the page cache (which would leave every setup page cached before
/// the first operation, so no read-in error path could ever be reached).
///
/// Only the snapshot's `tree` extents count (a `cache` extent repeats one): a `written` one holds the blocks under it, an
/// `unwritten` one and a hole read as zeros. Says nothing (nil) for a file whose device bytes do
/// not settle its contents: the engine cannot say its blocks (`Engine.blockBytes` is nil), the
/// file has delayed, ordered or cached-dirty data, or an extent's length is not a whole number of
/// its blocks. The caller then reads the file through the engine, as before.
enum StoredContents {
  /// The bytes of `path` (`size` bytes) as `snapshot`'s tree extents and `block` say, or nil.
  static func read(_ path: String, size: UInt64, in snapshot: Snapshot, block: (UInt64) -> [UInt8]?) -> [UInt8]? {
    let extents = snapshot.extents.filter { $0.file == path }
    // Data not on the device yet: the device is not the file. (An extent cache only repeats the tree.)
    guard !extents.contains(where: { $0.source == .delalloc || $0.source == .ordered }) else { return nil }
    guard !snapshot.pages.contains(where: { $0.file == path && $0.flags.contains(.dirty) }) else { return nil }
    guard size <= UInt64(Int.max / 2) else { return nil }
    var out = [UInt8](repeating: 0, count: Int(size))
    for e in extents where e.source == .tree && e.state != "unwritten" {
      guard let disk = e.disk, disk.count > 0, e.range.length % disk.count == 0 else { return nil }
      let blockSize = e.range.length / disk.count
      // Bounded by the extent's block count.
      for k in 0..<disk.count {
        let fileStart = e.range.start + k * blockSize
        guard fileStart < size else { break }
        guard let bytes = block(disk.start + k), UInt64(bytes.count) == blockSize else { return nil }
        let n = Int(min(blockSize, size - fileStart))
        out.replaceSubrange(Int(fileStart)..<Int(fileStart) + n, with: bytes[0..<n])
      }
    }
    return out
  }
}
