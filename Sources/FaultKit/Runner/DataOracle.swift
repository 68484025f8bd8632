import Foundation

/// The data oracle: a plain model of what each file must contain, fed with every operation and
/// its outcome, and checked against what the engine reads back, before and after `recover`.
///
/// Checks `errors-reported` (before recover: bytes the application wrote and the cache no longer
/// returns were reported lost by an error from a later write, writeback, fsync, read or punch
/// of that file) and `data-durable` (after recover: bytes a successful fsync acknowledged read back as
/// written; other bytes are ones written there at some time, or zero: never garbage).
/// Operations are fed in completion order. Every write's bytes are stamped (`WriteData`: file,
/// offset, write), so a block at the wrong offset, in the wrong file or from an older write is a
/// mismatch, and "garbage" is exact: a byte after a crash must be one some write (or setup) put
/// at that very offset, or zero. Every read the plan makes is checked when it returns
/// (`checkRead`), against what the file held when the read started or holds when it returned
/// where another task wrote that file meanwhile; a name a successful unlink removed (and nothing
/// made again) must not read before recover (`errors-reported`). Does not check: files unlinked
/// during the plan after recover (whether the unlink survives a crash depends on a commit the
/// plan may not have made; what an unlinked inode still holds, an orphan whose eviction failed,
/// is the engine's block accounting's business), which bytes a failed punch or zero range lost
/// (any such failure excuses the loss of the writes since the last fsync, as a writeback error
/// does: the call writes back first and returns that error), ordering between files, and what a
/// direct read returns for a page marked for fixup while it ran (`ReadWindow.awaitingFixup`,
/// engines whose `EngineDescriptor.writebackSkipsPagesAwaitingFixup`): its flush skipped that
/// page, so older bytes some write or setup put there (or zeros) pass.
struct DataOracle {
  struct FileModel {
    /// Contents if every successful write took effect.
    var expected: [UInt8] = []
    /// Where a failed write may have left old or new bytes: (range, old bytes).
    var eitherOld: [(ByteRange, [UInt8])] = []
    /// The size successful operations guarantee (a failed write past EOF may or may not have
    /// extended the file).
    var minSize = 0
    /// Contents at the last successful fsync, and the size it guarantees.
    var durable: [UInt8] = []
    var durableMinSize = 0
    var durableEither: [(ByteRange, [UInt8])] = []
    /// What setup left in the file (its bytes may come back after a crash).
    var seeded: [UInt8] = []
    /// What setup left in files a rename replaced with this one (they too may come back).
    var seededReplaced: [[UInt8]] = []
    /// Every write-like operation the file (and any earlier file of its name) ever saw: beyond
    /// what fsync acknowledged, a byte after a crash must be one of these put at that offset.
    var history: [Written] = []
    /// An error was reported on this file after the last successful fsync (by a write,
    /// writeback, fsync or read): lost cached data is then not a silent loss.
    var errorSinceSync = false
    /// When the last successful fsync completed (0: none).
    var lastSyncSeq = 0
    /// The file exists as far as the plan's successful operations say.
    var exists = false
    /// An unlink of it failed: the name may be gone (an unlink that fails after removing the
    /// entry, freeing the inode, returns its error: ext4's and fuse2fs's both), so a read that
    /// finds no such file is allowed until an operation on it succeeds.
    var maybeUnlinked = false
    /// A successful unlink removed the name, and no successful operation has made it since: a
    /// read of it must fail with ENOENT.
    var unlinked = false
    var touched = false
    /// A `corrupt` op damaged a block: reads may fail with EIO (never return wrong bytes).
    var damaged = false
    /// Every write-like operation on the file since it was made: its range, when it completed,
    /// and the data it left there (nil: zeros, for punch and truncate).
    var writes: [Written] = []
    /// When writeback or fsync last reported an error on the file (the errors that report lost
    /// data), or -1. Other failures (a bad argument, a failed read) excuse no loss.
    var lastErrorSeq = -1
  }

  /// A write-like operation: its range, when it completed, the data it left (nil: zeros).
  struct Written {
    let range: ByteRange
    let seq: Int
    let data: WriteData?
    func byte(at i: Int) -> UInt8 { data?.byte(at: UInt64(i)) ?? 0 }
    func bytes(_ r: ByteRange) -> [UInt8] {
      data?.bytes(at: r.start, count: Int(r.length)) ?? [UInt8](repeating: 0, count: Int(r.length))
    }
  }

  private(set) var files: [String: FileModel] = [:]
  /// Completed operations so far: the clock that orders writes and reported errors.
  private var seq = 0
  /// Paths in first-use order: what the oracle reads back.
  private(set) var paths: [String] = []

  mutating func seed(path: String, contents: [UInt8], durable: Bool) {
    if files[path] == nil { paths.append(path) }
    var m = FileModel()
    m.exists = true
    m.expected = contents
    m.minSize = contents.count
    if durable {
      m.durable = contents
      m.durableMinSize = contents.count
    }
    m.seeded = contents
    files[path] = m
  }

  mutating func record(_ op: Operation, _ outcome: OpOutcome) {
    // A kernel control file is no plan file: it holds no data of the plan's.
    if op.kind == .control { return }
    if files[op.path] == nil {
      files[op.path] = FileModel()
      paths.append(op.path)
    }
    if op.kind == .rename, outcome.status == .ok, let target = op.target, target != op.path {
      // The file's bytes now live under `target` (a file there is replaced); the old name is gone.
      seq += 1
      if files[target] == nil { paths.append(target) }
      var moved = files[op.path]!
      moved.touched = true
      // Whether the new name survives a crash depends on a commit of the directory the plan may
      // not have made: nothing under it is acknowledged until the next successful fsync.
      moved.durable = []
      moved.durableMinSize = 0
      moved.durableEither = []
      // A crash before that commit may bring back the file the rename replaced: its bytes are
      // not garbage (as for create).
      if let replaced = files[target] {
        moved.seededReplaced += [replaced.seeded] + replaced.seededReplaced
        moved.history += replaced.history
      }
      files[target] = moved
      files[op.path]!.exists = false
      return
    }
    // Mutate in place through the subscript: a copy of the model would copy its byte arrays.
    seq += 1
    Self.apply(op, outcome, seq: seq, to: &files[op.path]!)
  }

  private static func apply(_ op: Operation, _ outcome: OpOutcome, seq: Int, to m: inout FileModel) {
    let failed = outcome.status == .error
    let ok = outcome.status == .ok
    if failed { m.errorSinceSync = true }
    if ok && op.kind != .unlink { m.maybeUnlinked = false }
    // O_DIRECT I/O writes the range's cached pages back and waits first (Linux: iomap_dio_rw's
    // kiocb_write_and_wait, generic_file_direct_write's filemap_write_and_wait_range), and a
    // failure there is the call's error: a failed direct read or write reports a writeback
    // error, as a failed fsync does (the buffered writes before it may be gone).
    if failed && (op.kind == .dioWrite || op.kind == .dioRead) { markLoss(&m, seq) }
    // So do hole punching and zeroing: ext4_punch_hole, xfs_flush_unmap_range (punch, zero
    // range) and btrfs_punch_hole_lock_range (its ordered-range wait) write the range's dirty
    // pages back and wait first (filemap_write_and_wait_range), and return that error: the
    // "Delayed block allocation failed" pages of a page the range only touches are lost, and the
    // punch's error is how the caller hears of it. Any failed punch counts, whatever its cause.
    if failed && (op.kind == .punch || op.kind == .zeroRange) { markLoss(&m, seq) }
    switch op.kind {
    case .create:
      if ok {
        // A new file: whatever an earlier file of this name held is gone, except that a crash
        // before the next commit may bring the old one back (its bytes are not garbage).
        let (seeded, replaced, history) = (m.seeded, m.seededReplaced, m.history)
        m = FileModel()
        m.exists = true
        m.seeded = seeded
        m.seededReplaced = replaced
        m.history = history
      }
    case .write, .dioWrite, .mmapWrite, .pageMkwrite:
      guard ok || failed else { break }
      let start = Int(op.offset ?? 0)
      let len = Int(op.length ?? 0)
      let data = op.writeData
      let r = ByteRange(start: UInt64(start), length: UInt64(len))
      if m.expected.count < start + len {
        m.expected.append(contentsOf: repeatElement(0, count: start + len - m.expected.count))
      }
      if failed {
        m.eitherOld.append((r, Array(m.expected[start..<start + len])))
      } else {
        m.exists = true
        m.unlinked = false
        m.eitherOld = trim(m.eitherOld, r)
        m.minSize = max(m.minSize, start + len)
      }
      let new = data.bytes(at: UInt64(start), count: len)
      m.expected.replaceSubrange(start..<start + len, with: new)
      let w = Written(range: r, seq: seq, data: data)
      m.writes.append(w)
      m.history.append(w)
      // Written after the last fsync: after a crash these bytes may be the new ones.
      m.durableEither.append((r, new))
    case .fsync:
      if ok {
        m.durable = m.expected
        m.durableMinSize = m.minSize
        m.durableEither = m.eitherOld
        m.errorSinceSync = false
        m.lastSyncSeq = seq
      } else if failed {
        markLoss(&m, seq)
      }
    case .writeback:
      if failed { markLoss(&m, seq) }
    case .read, .dioRead:
      break
    case .corrupt:
      if ok { m.damaged = true }
    case .migratePage, .dropCaches:
      break
    case .punch, .zeroRange:
      guard ok || failed else { break }
      if op.kind == .zeroRange && ok {
        let end = Int(op.offset ?? 0) + Int(op.length ?? 0)
        if m.expected.count < end { m.expected.append(contentsOf: repeatElement(0, count: end - m.expected.count)) }
        m.minSize = max(m.minSize, end)
      }
      let start = min(Int(op.offset ?? 0), m.expected.count)
      let end = min(start + Int(op.length ?? 0), m.expected.count)
      let r = ByteRange(UInt64(start), UInt64(end))
      if failed {
        m.eitherOld.append((r, Array(m.expected[start..<end])))
      } else {
        m.eitherOld = trim(m.eitherOld, r)
      }
      m.expected.withUnsafeMutableBufferPointer { b in
        for i in start..<end { b[i] = 0 }
      }
      m.writes.append(Written(range: r, seq: seq, data: nil))
      m.durableEither.append((r, Array(repeating: 0, count: end - start)))
    case .truncate:
      guard ok else {
        if failed {
          // A truncate that failed part-way may have cut the file (ext4 sets i_size first): the
          // tail may be gone, and the error is what reports it. It may also have zeroed the tail
          // of the block at the new size (ext4_block_truncate_page, before the blocks' removal
          // failed), which writeback writes in place before any commit of the size: after a
          // crash the old size can come back with zeros there, as for a truncate that worked.
          // And one that grows may have grown it (libext2fs's ext2fs_file_set_size2 writes the
          // new i_size before anything that can fail).
          let n = Int(op.size ?? 0)
          m.minSize = min(m.minSize, n)
          m.durableMinSize = min(m.durableMinSize, n)
          m.lastErrorSeq = seq
          let tailEnd = max(m.durable.count, m.expected.count)
          if n < tailEnd {
            m.durableEither.append((ByteRange(UInt64(n), UInt64(tailEnd)), Array(repeating: 0, count: tailEnd - n)))
          }
          // Past the new size, it may have freed some blocks and not others (ext4 removes them
          // from the end, a restart at a time): once the file grows again, each byte there reads
          // as before or as zero. Zero is expected, the old bytes allowed.
          if n < m.expected.count {
            m.eitherOld.append((ByteRange(UInt64(n), UInt64(m.expected.count)), Array(m.expected[n...])))
            m.expected.withUnsafeMutableBufferPointer { b in
              for i in n..<b.count { b[i] = 0 }
            }
          }
          if n > m.expected.count { m.expected.append(contentsOf: repeatElement(0, count: n - m.expected.count)) }
        }
        break
      }
      let n = Int(op.size ?? 0)
      m.minSize = n
      m.durableMinSize = min(m.durableMinSize, n)
      // The zeroing of the tail may reach the disk before the size change is committed.
      let tailEnd = max(m.durable.count, m.expected.count)
      if n < tailEnd {
        m.durableEither.append((ByteRange(UInt64(n), UInt64(tailEnd)), Array(repeating: 0, count: tailEnd - n)))
      }
      m.writes.append(Written(range: ByteRange(UInt64(n), UInt64.max / 2), seq: seq, data: nil))
      if n < m.expected.count {
        m.expected.removeSubrange(n...)
        m.eitherOld = trim(m.eitherOld, ByteRange(UInt64(n), UInt64.max / 2))
      } else {
        m.expected.append(contentsOf: repeatElement(0, count: n - m.expected.count))
      }
    case .unlink:
      if ok {
        m.exists = false
        m.unlinked = true
      }
      if failed { m.maybeUnlinked = true }
    case .append:
      // At the end as the plan saw it: the same bytes as a write there.
      var w = op
      w.kind = .write
      w.offset = UInt64(m.expected.count)
      // A failed write, truncate, fallocate or fsync before it may have left the end anywhere
      // from `minSize` to there (libext2fs extends i_size only as far as a failed write got, and
      // sets it before a truncate's punch fails): the append lands at that end, which the plan
      // cannot know. Each byte from there on may then also be the append's own (a write's
      // bytes are the same whatever offset it starts at), and the size it guarantees is its
      // length past `minSize`.
      let end = m.minSize
      let unsure = (ok || failed) && end < m.expected.count
      apply(w, outcome, seq: seq, to: &m)
      if unsure {
        let r = ByteRange(UInt64(end), UInt64(m.expected.count))
        let bytes = op.writeData.bytes(at: r.start, count: Int(r.length))
        m.eitherOld.append((r, bytes))
        m.durableEither.append((r, bytes))
        m.history.append(Written(range: r, seq: seq, data: op.writeData))
        // Past where it ends when it landed early: what was there, EOF, or zeros once the file
        // grows again.
        let after = end + Int(op.length ?? 0)
        if after < m.expected.count {
          let z = ByteRange(UInt64(after), UInt64(m.expected.count))
          m.eitherOld.append((z, Array(repeating: 0, count: m.expected.count - after)))
          m.durableEither.append((z, Array(repeating: 0, count: m.expected.count - after)))
        }
        if ok { m.minSize = after }
      }
      return
    case .rename:
      // The model moves with the name (`renamed`); here only what stays behind.
      break
    case .fallocate:
      // Its new blocks read as zeros; without keep-size the size grows to offset + length (the
      // bytes it adds read as zeros), and a failed one may or may not have grown it.
      guard ok || failed, !(op.mode ?? "").split(separator: ",").contains("keep-size") else { break }
      let end = Int((op.offset ?? 0) + (op.length ?? 0))
      if m.expected.count < end {
        m.expected.append(contentsOf: repeatElement(0, count: end - m.expected.count))
      }
      if ok { m.minSize = max(m.minSize, end) }
    case .mkdir, .link, .symlink:
      // No file data changes; the name exists again.
      if ok { m.unlinked = false }
    case .setxattr, .removexattr, .control:
      // No file data changes.
      break
    }
    m.touched = true
  }

  /// A writeback or fsync error: some bytes written since the last successful fsync may be gone,
  /// and the error does not say which. Each of them may now read as at that fsync, or as any
  /// earlier write left it (whatever reached the disk before), until it is written again. The
  /// size those writes extended the file to may be gone with them: filesystems write a size to
  /// disk only over data that reached it (btrfs's disk_i_size, ext4's i_disksize, xfs's di_size
  /// at I/O completion), so a later fsync, which reports nothing new to a caller already told of
  /// the loss, makes the size at the last successful fsync durable, not the cached one.
  private static func markLoss(_ m: inout FileModel, _ seq: Int) {
    m.lastErrorSeq = seq
    m.minSize = min(m.minSize, m.durableMinSize)
    // Bytes past today's size count too: a later extension brings them back into the file.
    let furthest = m.writes.filter { $0.range.end < UInt64.max / 2 }.map(\.range.end).max() ?? 0
    let n = max(UInt64(max(m.expected.count, m.durable.count)), furthest)
    for w in m.writes where w.seq > m.lastSyncSeq {
      guard let r = w.range.intersection(ByteRange(0, n)) else { continue }
      // As at the last fsync (zero past what it covered): slice copies, not a per-byte loop.
      var old = [UInt8](repeating: 0, count: Int(r.length))
      let upto = min(Int(r.end), m.durable.count)
      if Int(r.start) < upto { old.replaceSubrange(0..<(upto - Int(r.start)), with: m.durable[Int(r.start)..<upto]) }
      m.eitherOld.append((r, old))
      for e in m.writes where e.seq < w.seq {
        guard let x = e.range.intersection(r) else { continue }
        m.eitherOld.append((x, e.bytes(x)))
      }
    }
  }

  /// `either` without the bytes of `r` (they have been written definitely since).
  static func trim(_ either: [(ByteRange, [UInt8])], _ r: ByteRange) -> [(ByteRange, [UInt8])] {
    var out: [(ByteRange, [UInt8])] = []
    for (e, old) in either {
      guard e.overlaps(r) else {
        out.append((e, old))
        continue
      }
      if e.start < r.start { out.append((ByteRange(e.start, r.start), Array(old[0..<Int(r.start - e.start)]))) }
      if r.end < e.end { out.append((ByteRange(r.end, e.end), Array(old[Int(r.end - e.start)...]))) }
    }
    return out
  }

  /// Before recover: compares what the engine reads now with the model.
  func checkCache(only: Set<String>? = nil, _ read: (String) -> Result<[UInt8], FSError>) -> [Violation] {
    var out: [Violation] = []
    for path in paths where only?.contains(path) ?? true {
      guard let m = files[path], m.exists else {
        // The name an unlink removed stays gone (however much of the inode is still to free:
        // an orphan's blocks are not its name).
        if files[path]?.unlinked == true, case .success = read(path) {
          out.append(
            Violation(
              .errorsReported, moment: .atRest,
              "\(path): unlink returned success, yet \(path) still reads (the name is still there)"))
        }
        continue
      }
      switch read(path) {
      case .failure(let e):
        if m.maybeUnlinked && e.errno == .noEntry { continue }
        if e.errno != .io {
          out.append(Violation(.errorsReported, moment: .atRest, "reading \(path) back failed with \(e)"))
        }
      case .success(let got):
        if let bad = Self.firstMismatch(got, m.expected, m.eitherOld, minSize: m.minSize, paths: paths),
          !Self.reported(bad.start, in: m)
        {
          out.append(
            Violation(
              .errorsReported, moment: .atRest,
              "\(path): data lost and nobody was told: \(bad.text); no write, writeback, fsync, read or punch of \(path) returned an error after it was written",
              evidence: [bad.text]))
        }
      }
    }
    return out
  }

  /// After recover: fsync-acknowledged bytes are intact, no byte is garbage. A loss of bytes a
  /// successful fsync acknowledged is also an `errors-reported` violation: the caller was told
  /// success. A file a `corrupt` op damaged may fail with EIO (the checksum caught it) but must
  /// never return wrong bytes.
  /// `allowedLoss`, when given, hears of each file read back whole that lost bytes nobody
  /// acknowledged (no violation): said in the trace, so a power cut before an fsync shows as the
  /// loss it is allowed to be rather than as nothing.
  func checkDurable(
    only: Set<String>? = nil, allowedLoss: ((String) -> Void)? = nil, _ read: (String) -> Result<[UInt8], FSError>
  ) -> [Violation] {
    var out: [Violation] = []
    for path in paths where only?.contains(path) ?? true {
      guard let m = files[path], m.exists else { continue }
      switch read(path) {
      case .failure(let e):
        if m.damaged && e.errno == .io { continue }
        if m.maybeUnlinked && e.errno == .noEntry { continue }
        if !m.durable.isEmpty {
          out.append(
            Violation(
              .dataDurable, moment: .atRest,
              "after recover, reading \(path) failed with \(e) but \(Size.format(UInt64(m.durable.count))) were fsync-acknowledged"
            ))
        }
      case .success(let got):
        // Everything written made it: the common case, one memcmp.
        if Self.equal(got[...], m.expected[...]) { continue }
        if let bad = Self.firstMismatch(
          Array(got.prefix(m.durable.count)), m.durable, m.durableEither, minSize: m.durableMinSize, paths: paths)
        {
          out.append(
            Violation(
              .dataDurable, moment: .atRest, "after recover, \(path) lost fsync-acknowledged data: \(bad.text)",
              evidence: [bad.text]))
          if !Self.reported(bad.start, in: m) {
            out.append(
              Violation(
                .errorsReported, moment: .atRest,
                "\(path): fsync returned success, yet after recover \(bad.text); no operation reported the loss",
                evidence: [bad.text]))
          }
        } else if got.count < m.durableMinSize {
          out.append(
            Violation(
              .dataDurable, moment: .atRest,
              "after recover, \(path) is \(got.count) bytes, \(m.durableMinSize) were fsync-acknowledged"))
        } else if let i = Self.firstGarbage(got, in: m) {
          out.append(
            Violation(
              .dataDurable, moment: .atRest,
              "after recover, \(path) byte \(i) is 0x\(String(got[i], radix: 16, uppercase: true)), which no write or setup put there (garbage)",
              evidence: Self.origin(got, i, base: 0, paths)))
        } else if let allowedLoss {
          allowedLoss(Self.lossLine(path, got, m.expected))
        }
      }
    }
    return out
  }

  /// `after recover /b reads 0 B where the cache held 24KiB; ...: a loss allowed`.
  static func lossLine(_ path: String, _ got: [UInt8], _ expected: [UInt8]) -> String {
    let n = min(got.count, expected.count)
    var differ = 0
    for i in 0..<n where got[i] != expected[i] { differ += 1 }
    let gone = expected.count > got.count ? expected.count - got.count : 0
    return "after recover \(path) reads \(Size.format(UInt64(got.count))) where the cache held "
      + "\(Size.format(UInt64(expected.count))); \(Size.format(UInt64(differ))) read as before writes no fsync "
      + "acknowledged" + (gone > 0 ? " and \(Size.format(UInt64(gone))) are gone" : "") + ": a loss allowed"
  }

  /// Describes the first byte range where `got` differs from `want`, allowing, where a failed
  /// write may have left the old bytes, exactly those old bytes, and end of file at or past
  /// `minSize`.
  struct Mismatch {
    let start: Int
    let text: String
  }

  /// True when an error was reported on the file after the last write covering byte `i`.
  static func reported(_ i: Int, in m: FileModel) -> Bool {
    let written = m.writes.last { $0.range.start <= UInt64(i) && UInt64(i) < $0.range.end }?.seq ?? 0
    return m.lastErrorSeq > written
  }

  /// `got` and `want` start at file offset `base`; `either` ranges are file offsets.
  static func firstMismatch(
    _ got: [UInt8], _ want: [UInt8], _ either: [(ByteRange, [UInt8])], minSize: Int, base: UInt64 = 0,
    paths: [String] = []
  ) -> Mismatch? {
    if equal(got[...], want[...]) { return nil }  // the common case
    let n = max(got.count, want.count)
    var i = 0
    while i < n {
      let g: UInt8? = i < got.count ? got[i] : nil
      let w: UInt8? = i < want.count ? want[i] : nil
      if g != w && !(g == nil && Int(base) + i >= minSize) && !allowedOld(Int(base) + i, g, either) {
        var j = i + 1
        while j < n && (j < got.count ? got[j] : nil) != (j < want.count ? want[j] : nil)
          && !allowedOld(Int(base) + j, j < got.count ? got[j] : nil, either)
        { j += 1 }
        let gs = g.map { "0x" + String($0, radix: 16, uppercase: true) } ?? "EOF"
        let ws = w.map { "0x" + String($0, radix: 16, uppercase: true) } ?? "EOF"
        let r = ByteRange(base + UInt64(i), base + UInt64(j))
        var text = "bytes \(r) read \(gs), expected \(ws)"
        // Stamped data says where the bytes came from.
        if let found = unit(got, i, base: base, paths), let want = unit(want, i, base: base, paths), found != want {
          text = "bytes \(r) hold \(found) where \(want) belongs"
        } else if let found = unit(got, i, base: base, paths) {
          text += " (they hold \(found))"
        }
        return Mismatch(start: Int(base) + i, text: text)
      }
      i += 1
    }
    return nil
  }

  /// What the 16-byte unit holding byte `i` of `bytes` (which start at file offset `base`) says
  /// of itself, when it is whole and one of ours.
  static func unit(_ bytes: [UInt8], _ i: Int, base: UInt64, _ paths: [String]) -> String? {
    let start = Int((base + UInt64(i)) & ~15) - Int(base)
    guard start >= 0, start + 16 <= bytes.count else { return nil }
    return WriteData.describe(bytes[start..<start + 16], at: base + UInt64(start), paths: paths)
  }

  /// Evidence for a byte nothing put there: what its unit holds, if it says.
  static func origin(_ bytes: [UInt8], _ i: Int, base: UInt64, _ paths: [String]) -> [String] {
    unit(bytes, i, base: base, paths).map { ["byte \(Int(base) + i) is in a unit that holds \($0)"] } ?? []
  }

  /// The first byte of `got` (the whole file) that nothing ever put at its offset: not zero, not
  /// what setup left, not any write's byte there.
  static func firstGarbage(_ got: [UInt8], in m: FileModel) -> Int? {
    got.withUnsafeBufferPointer { g in
      for i in 0..<g.count where g[i] != 0 && !(i < m.expected.count && m.expected[i] == g[i]) {
        if i < m.seeded.count && m.seeded[i] == g[i] { continue }
        if m.seededReplaced.contains(where: { i < $0.count && $0[i] == g[i] }) { continue }
        let at = UInt64(i)
        if m.history.contains(where: { $0.range.start <= at && at < $0.range.end && $0.byte(at: i) == g[i] }) {
          continue
        }
        return i
      }
      return nil
    }
  }

  /// Byte-wise equality by memcmp.
  static func equal(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { x in
      b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
    }
  }

  static func allowedOld(_ i: Int, _ g: UInt8?, _ either: [(ByteRange, [UInt8])]) -> Bool {
    guard let g else { return false }
    for (r, old) in either where r.start <= UInt64(i) && UInt64(i) < r.end {
      let k = i - Int(r.start)
      if k < old.count && old[k] == g { return true }
    }
    return false
  }

}
