import Foundation

/// The data oracle: a plain model of what each file must contain, fed with every operation and
/// its outcome, and checked against what the engine reads back, before and after `recover`.
///
/// Checks `errors-reported` (before recover: bytes the application wrote and the cache no longer
/// returns were reported lost by an error from a later write, writeback, fsync or read of that
/// file) and `data-durable` (after recover: bytes a successful fsync acknowledged read back as
/// written; other bytes are ones written there at some time, or zero: never garbage).
/// Operations are fed in completion order. Does not check: overlapping writes that the engine
/// does not serialize (an mmap store racing a write on the same bytes is judged by completion
/// order), files unlinked during the plan (whether the unlink survives a crash depends on
/// a commit the plan may not have made), and ordering between files.
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
    /// Byte values ever written anywhere in the file (plus zero): beyond what fsync acknowledged,
    /// a byte after a crash must be one of these. Weaker than "written there": bytes of another
    /// offset of the same file pass this check.
    var patterns = ByteSet([0])
    /// An error was reported on this file after the last successful fsync (by a write,
    /// writeback, fsync or read): lost cached data is then not a silent loss.
    var errorSinceSync = false
    /// When the last successful fsync completed (0: none).
    var lastSyncSeq = 0
    /// The file exists as far as the plan's successful operations say.
    var exists = false
    var touched = false
    /// A `corrupt` op damaged a block: reads may fail with EIO (never return wrong bytes).
    var damaged = false
    /// Every write-like operation on the file: its range, when it completed, and the byte it
    /// left there (0 for punch and truncate).
    var writes: [(range: ByteRange, seq: Int, byte: UInt8)] = []
    /// When writeback or fsync last reported an error on the file (the errors that report lost
    /// data), or -1. Other failures (a bad argument, a failed read) excuse no loss.
    var lastErrorSeq = -1
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
    for b in contents { m.patterns.insert(b) }
    files[path] = m
  }

  mutating func record(_ op: Operation, _ outcome: OpOutcome) {
    if files[op.path] == nil {
      files[op.path] = FileModel()
      paths.append(op.path)
    }
    // Mutate in place through the subscript: a copy of the model would copy its byte arrays.
    seq += 1
    Self.apply(op, outcome, seq: seq, to: &files[op.path]!)
  }

  private static func apply(_ op: Operation, _ outcome: OpOutcome, seq: Int, to m: inout FileModel) {
    let failed = outcome.status == .error
    let ok = outcome.status == .ok
    if failed { m.errorSinceSync = true }
    switch op.kind {
    case .create:
      if ok {
        // A new file: whatever an earlier file of this name held is gone, except that a crash
        // before the next commit may bring the old one back (its bytes are not garbage).
        let before = m.patterns
        m = FileModel()
        m.exists = true
        m.patterns = before
      }
    case .write, .dioWrite, .mmapWrite, .pageMkwrite:
      guard ok || failed else { break }
      let start = Int(op.offset ?? 0)
      let len = Int(op.length ?? 0)
      let byte = op.pattern ?? 0xA5
      let r = ByteRange(start: UInt64(start), length: UInt64(len))
      if m.expected.count < start + len {
        m.expected.append(contentsOf: repeatElement(0, count: start + len - m.expected.count))
      }
      if failed {
        m.eitherOld.append((r, Array(m.expected[start..<start + len])))
      } else {
        m.exists = true
        m.eitherOld = trim(m.eitherOld, r)
        m.minSize = max(m.minSize, start + len)
      }
      m.expected.withUnsafeMutableBufferPointer { b in
        for i in start..<start + len { b[i] = byte }
      }
      m.patterns.insert(byte)
      m.writes.append((r, seq, byte))
      // Written after the last fsync: after a crash these bytes may be the new ones.
      m.durableEither.append((r, Array(repeating: byte, count: len)))
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
    case .punch:
      guard ok || failed else { break }
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
      m.writes.append((r, seq, 0))
      m.durableEither.append((r, Array(repeating: 0, count: end - start)))
    case .truncate:
      guard ok else {
        if failed {
          // A truncate that failed part-way may have cut the file (ext4 sets i_size first): the
          // tail may be gone, and the error is what reports it.
          let n = Int(op.size ?? 0)
          m.minSize = min(m.minSize, n)
          m.durableMinSize = min(m.durableMinSize, n)
          m.lastErrorSeq = seq
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
      m.writes.append((ByteRange(UInt64(n), UInt64.max / 2), seq, 0))
      if n < m.expected.count {
        m.expected.removeSubrange(n...)
        m.eitherOld = trim(m.eitherOld, ByteRange(UInt64(n), UInt64.max / 2))
      } else {
        m.expected.append(contentsOf: repeatElement(0, count: n - m.expected.count))
      }
    case .unlink:
      if ok { m.exists = false }
    case .append:
      // At the end as the plan saw it: the same bytes as a write there.
      var w = op
      w.kind = .write
      w.offset = UInt64(m.expected.count)
      apply(w, outcome, seq: seq, to: &m)
      return
    case .fallocate:
      // Its new blocks read as zeros; without keep-size the size grows to offset + length (the
      // bytes it adds read as zeros), and a failed one may or may not have grown it.
      guard ok || failed, !(op.mode ?? "").split(separator: ",").contains("keep-size") else { break }
      let end = Int((op.offset ?? 0) + (op.length ?? 0))
      if m.expected.count < end {
        m.expected.append(contentsOf: repeatElement(0, count: end - m.expected.count))
      }
      if ok { m.minSize = max(m.minSize, end) }
    case .mkdir, .link, .symlink, .setxattr, .removexattr:
      // No file data changes.
      break
    }
    m.touched = true
  }

  /// A writeback or fsync error: some bytes written since the last successful fsync may be gone,
  /// and the error does not say which. Each of them may now read as at that fsync, or as any
  /// earlier write left it (whatever reached the disk before), until it is written again.
  private static func markLoss(_ m: inout FileModel, _ seq: Int) {
    m.lastErrorSeq = seq
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
        m.eitherOld.append((x, Array(repeating: e.byte, count: Int(x.length))))
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
      guard let m = files[path], m.exists else { continue }
      switch read(path) {
      case .failure(let e):
        if e.errno != .io {
          out.append(Violation(.errorsReported, moment: .atRest, "reading \(path) back failed with \(e)"))
        }
      case .success(let got):
        if let bad = Self.firstMismatch(got, m.expected, m.eitherOld, minSize: m.minSize),
          !Self.reported(bad.start, in: m)
        {
          out.append(
            Violation(
              .errorsReported, moment: .atRest,
              "\(path): data lost and nobody was told: \(bad.text); no write, writeback, fsync or read of \(path) returned an error after it was written",
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
  func checkDurable(only: Set<String>? = nil, _ read: (String) -> Result<[UInt8], FSError>) -> [Violation] {
    var out: [Violation] = []
    for path in paths where only?.contains(path) ?? true {
      guard let m = files[path], m.exists else { continue }
      switch read(path) {
      case .failure(let e):
        if m.damaged && e.errno == .io { continue }
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
          Array(got.prefix(m.durable.count)), m.durable, m.durableEither, minSize: m.durableMinSize)
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
        } else if let i = m.patterns.firstOutsider(in: got) {
          out.append(
            Violation(
              .dataDurable, moment: .atRest,
              "after recover, \(path) byte \(i) is 0x\(String(got[i], radix: 16)), which was never written there (garbage)"
            ))
        }
      }
    }
    return out
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

  static func firstMismatch(
    _ got: [UInt8], _ want: [UInt8], _ either: [(ByteRange, [UInt8])], minSize: Int
  ) -> Mismatch? {
    if equal(got[...], want[...]) { return nil }  // the common case
    let n = max(got.count, want.count)
    var i = 0
    while i < n {
      let g: UInt8? = i < got.count ? got[i] : nil
      let w: UInt8? = i < want.count ? want[i] : nil
      if g != w && !(g == nil && i >= minSize) && !allowedOld(i, g, either) {
        var j = i + 1
        while j < n && (j < got.count ? got[j] : nil) != (j < want.count ? want[j] : nil)
          && !allowedOld(j, j < got.count ? got[j] : nil, either)
        { j += 1 }
        let gs = g.map { "0x" + String($0, radix: 16, uppercase: true) } ?? "EOF"
        let ws = w.map { "0x" + String($0, radix: 16, uppercase: true) } ?? "EOF"
        return Mismatch(start: i, text: "bytes \(ByteRange(UInt64(i), UInt64(j))) read \(gs), expected \(ws)")
      }
      i += 1
    }
    return nil
  }

  /// Byte-wise equality by memcmp.
  static func equal(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { x in
      b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
    }
  }

  private static func allowedOld(_ i: Int, _ g: UInt8?, _ either: [(ByteRange, [UInt8])]) -> Bool {
    guard let g else { return false }
    for (r, old) in either where r.start <= UInt64(i) && UInt64(i) < r.end {
      let k = i - Int(r.start)
      if k < old.count && old[k] == g { return true }
    }
    return false
  }

}

/// A set of byte values as a 256-bit map: membership is a shift and a mask.
struct ByteSet {
  private var bits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  init(_ bytes: [UInt8]) { for b in bytes { insert(b) } }

  mutating func insert(_ b: UInt8) {
    let m = UInt64(1) << (b & 63)
    switch b >> 6 {
    case 0: bits.0 |= m
    case 1: bits.1 |= m
    case 2: bits.2 |= m
    default: bits.3 |= m
    }
  }

  func contains(_ b: UInt8) -> Bool {
    let w: UInt64 =
      switch b >> 6 {
      case 0: bits.0
      case 1: bits.1
      case 2: bits.2
      default: bits.3
      }
    return w & (UInt64(1) << (b & 63)) != 0
  }

  /// The index of the first byte not in the set.
  func firstOutsider(in bytes: [UInt8]) -> Int? {
    bytes.withUnsafeBufferPointer { b in
      for i in 0..<b.count where !contains(b[i]) { return i }
      return nil
    }
  }
}
