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
    /// Byte values ever written to the file (plus zero): what a crash may leave.
    var patterns = ByteSet([0])
    /// An error was reported on this file after the last successful fsync (by a write,
    /// writeback, fsync or read): lost cached data is then not a silent loss.
    var errorSinceSync = false
    /// A writeback, fsync or read error since the last successful fsync: bytes written before it
    /// may have been dropped (which ones, the error does not say), so the next fsync can only
    /// vouch for "old or new" over the file.
    var lossReported = false
    var unlinked = false
    var touched = false
    /// A `corrupt` op damaged a block: reads may fail with EIO (never return wrong bytes).
    var damaged = false
    /// Every write-like operation on the file: its range and when it completed.
    var writes: [(range: ByteRange, seq: Int)] = []
    /// When an error was last reported on the file (write, writeback, fsync, read), or -1.
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
    if failed { m.lastErrorSeq = seq }
    switch op.kind {
    case .create:
      if outcome.status == .ok { m.unlinked = false }
    case .write, .dioWrite, .mmapWrite, .pageMkwrite:
      guard outcome.status == .ok || failed else { break }
      let start = Int(op.offset ?? 0)
      let len = Int(op.length ?? 0)
      let byte = op.pattern ?? 0xA5
      if m.expected.count < start + len {
        m.expected.append(contentsOf: repeatElement(0, count: start + len - m.expected.count))
      }
      if failed {
        m.eitherOld.append(
          (ByteRange(start: UInt64(start), length: UInt64(len)), Array(m.expected[start..<start + len])))
        m.errorSinceSync = true
      }
      m.expected.withUnsafeMutableBufferPointer { b in
        for i in start..<start + len { b[i] = byte }
      }
      m.patterns.insert(byte)
      if !failed { m.minSize = max(m.minSize, start + len) }
      let r = ByteRange(start: UInt64(start), length: UInt64(len))
      m.writes.append((r, seq))
      // Written after the last fsync: after a crash these bytes may be the new ones.
      m.durableEither.append((r, Array(repeating: byte, count: len)))
    case .fsync:
      if outcome.status == .ok {
        let before = m.durable
        m.durable = m.expected
        m.durableMinSize = m.minSize
        m.durableEither = m.eitherOld
        if m.lossReported {
          var old = before
          if old.count < m.durable.count {
            old.append(contentsOf: repeatElement(0, count: m.durable.count - old.count))
          }
          m.durableEither.append((ByteRange(0, UInt64(m.durable.count)), Array(old.prefix(m.durable.count))))
        }
        m.errorSinceSync = false
        m.lossReported = false
      } else if failed {
        m.errorSinceSync = true
        m.lossReported = true
      }
    case .writeback, .read, .dioRead:
      if failed {
        m.errorSinceSync = true
        m.lossReported = true
      }
    case .corrupt:
      if outcome.status == .ok { m.damaged = true }
    case .migratePage, .dropCaches:
      break
    case .punch:
      guard outcome.status == .ok || failed else { break }
      let start = min(Int(op.offset ?? 0), m.expected.count)
      let end = min(start + Int(op.length ?? 0), m.expected.count)
      if failed {
        m.eitherOld.append((ByteRange(UInt64(start), UInt64(end)), Array(m.expected[start..<end])))
        m.errorSinceSync = true
      }
      m.expected.withUnsafeMutableBufferPointer { b in
        for i in start..<end { b[i] = 0 }
      }
      let r = ByteRange(UInt64(start), UInt64(end))
      m.writes.append((r, seq))
      m.durableEither.append((r, Array(repeating: 0, count: end - start)))
    case .truncate:
      guard outcome.status == .ok else {
        if failed { m.errorSinceSync = true }
        break
      }
      let n = Int(op.size ?? 0)
      m.minSize = n
      m.durableMinSize = min(m.durableMinSize, n)
      m.writes.append((ByteRange(UInt64(n), UInt64.max / 2), seq))
      if n < m.expected.count {
        m.expected.removeSubrange(n...)
        m.eitherOld.removeAll { $0.0.start >= UInt64(n) }
      } else {
        m.expected.append(contentsOf: repeatElement(0, count: n - m.expected.count))
      }
    case .unlink:
      if outcome.status == .ok { m.unlinked = true }
    }
    m.touched = true
  }

  /// Before recover: compares what the engine reads now with the model.
  func checkCache(_ read: (String) -> Result<[UInt8], FSError>) -> [Violation] {
    var out: [Violation] = []
    for path in paths {
      guard let m = files[path], !m.unlinked else { continue }
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
  func checkDurable(_ read: (String) -> Result<[UInt8], FSError>) -> [Violation] {
    var out: [Violation] = []
    for path in paths {
      guard let m = files[path], !m.unlinked else { continue }
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
