import FaultKit
import Foundation

/// The guest's `snap` answer (statfs, and per file its size, FIEMAP extents and page-cache state)
/// in the common snapshot model: files, extents (tree with their disk blocks in the filesystem's
/// block size, delalloc, unwritten, shared), pages (those dirty or under writeback, from
/// cachestat), space. What it could not read is in `unreadable`.
enum LinuxSnapshot {
  struct Raw: Decodable {
    struct StatFS: Decodable {
      let bsize: UInt64
      let blocks: UInt64
      let bfree: UInt64
      let bavail: UInt64
    }
    struct File: Decodable {
      let path: String
      let size: UInt64?
      let mode: UInt32?
      let errno: Int32?
      let fiemapErrno: Int32?
      let extentsCut: Bool?
      let extents: [[UInt64]]?
      /// cachestat of the whole file: cached, dirty, writeback pages.
      let cache: [UInt64]?
      let cacheErrno: Int32?
      /// Each dirty or writeback page: index, dirty (0/1), writeback (0/1).
      let pages: [[UInt64]]?
      let pagesCut: Bool?
    }
    let statfs: StatFS
    let files: [File]
  }

  // FIEMAP extent flags (linux/fiemap.h).
  static let last: UInt64 = 0x1
  static let unknown: UInt64 = 0x2
  static let delalloc: UInt64 = 0x4
  static let encoded: UInt64 = 0x8
  static let inline: UInt64 = 0x200
  static let unwritten: UInt64 = 0x800
  static let shared: UInt64 = 0x2000

  /// - Throws: `UnreadableState` when the answer is not the JSON the agent writes.
  static func parse(_ json: [UInt8]) throws -> Snapshot {
    let raw: Raw
    do {
      raw = try JSONDecoder().decode(Raw.self, from: Data(json))
    } catch {
      throw UnreadableState(.snapshot, "the guest's snapshot is not the agent's JSON: \(error)", rawBytes: json)
    }
    var s = Snapshot()
    s.pageSize = 4096
    // Disk addresses in the filesystem's blocks (ext4 on a small disk has 1 KiB blocks).
    let blockSize = max(512, raw.statfs.bsize)
    for f in raw.files {
      if let e = f.errno {
        if e != ENOENT { s.unreadable.append("\(f.path): lstat failed: \(Errno(rawValue: e).name)") }
        continue
      }
      // Directories and links: their size only.
      s.files.append(FileRecord(path: f.path, size: f.size ?? 0))
      if let e = f.fiemapErrno { s.unreadable.append("\(f.path): FIEMAP failed: \(Errno(rawValue: e).name)") }
      if f.extentsCut == true { s.unreadable.append("\(f.path): more extents than the agent reads (65536)") }
      // A kernel without cachestat (before 6.5) says nothing of its pages: not a reading that failed.
      if let e = f.cacheErrno, e != ENOSYS {
        s.unreadable.append("\(f.path): cachestat failed: \(Errno(rawValue: e).name)")
      }
      if f.pagesCut == true {
        s.unreadable.append("\(f.path): dirty or writeback pages past the 16384 the agent reads")
      }
      for p in f.pages ?? [] where p.count == 3 {
        var flags: PageFlags = []
        if p[1] != 0 { flags.insert(.dirty) }
        if p[2] != 0 { flags.insert(.writeback) }
        s.pages.append(PageRecord(file: f.path, index: p[0], flags: flags))
      }
      for e in f.extents ?? [] where e.count == 4 {
        let (logical, physical, length, flags) = (e[0], e[1], e[2], e[3])
        let range = ByteRange(start: logical, length: length)
        if flags & delalloc != 0 {
          s.extents.append(ExtentRecord(source: .delalloc, file: f.path, range: range))
          continue
        }
        var state = "written"
        if flags & unwritten != 0 { state = "unwritten" }
        if flags & shared != 0 { state += ", shared" }
        if flags & (inline | encoded) != 0 { state = flags & inline != 0 ? "inline" : "encoded" }
        let disk: BlockRange? =
          flags & (unknown | inline) == 0 && physical % blockSize == 0
          ? BlockRange(start: physical / blockSize, count: (length + blockSize - 1) / blockSize) : nil
        s.extents.append(ExtentRecord(source: .tree, file: f.path, range: range, disk: disk, state: state))
      }
    }
    let (bs, st) = (raw.statfs.bsize, raw.statfs)
    // Counts a filesystem computes apart (btrfs) need not nest: one that does not is not read.
    guard st.bfree <= st.blocks, st.bavail <= st.bfree else {
      s.unreadable.append("statfs: \(st.bavail) available > \(st.bfree) free or free > \(st.blocks) blocks")
      return s
    }
    s.space = [
      SpaceRecord(
        name: "statfs", total: st.blocks * bs, used: (st.blocks - st.bfree) * bs, reserved: (st.bfree - st.bavail) * bs,
        mayUse: 0, free: st.bavail * bs, backsData: false)
    ]
    return s
  }
}
