/// The data oracle's check of the plan's own reads, as each returns (`DataOracle.checkRead`):
/// the window a read ran in (the file's bytes when it began, the other tasks' operations on the
/// file in flight meanwhile, a direct read's pages awaiting a fixup), and what it may return.
extension DataOracle {
  /// What a plan read saw while it ran: the file's bytes when it began, and the other tasks'
  /// operations on that file that were in flight when it began or began before it returned.
  struct ReadWindow {
    let path: String
    let before: [UInt8]
    /// The size the file surely had when the read began: a read racing a write that extends the
    /// file may end there (a whole-file read asks for the size it sees when it starts).
    var minSizeBefore = 0
    var overlapping: [Operation] = []
    /// Pages of a direct read's range that were marked for fixup while it ran (btrfs before the
    /// fixup worker's removal: a page dirtied behind the filesystem's back, which writeback hands
    /// to the worker and skips, -EAGAIN and redirtied, until the worker has reserved for it). The
    /// flush before the read (kiocb_write_and_wait) returns 0 without writing it, and the read
    /// returns the disk's bytes: older ones, not lost ones (the page stays dirty; the worker
    /// reserves and a later write-back writes it).
    var awaitingFixup: [ByteRange] = []

    /// Notes the pages of `s` that are marked for fixup, or will be when the read's flush meets
    /// them: dirty with PG_checked, or dirty with nothing under them (no delalloc, no ordered
    /// extent; on a copy-on-write filesystem a tree extent is not somewhere to write in place).
    mutating func noteAwaitingFixup(_ s: Snapshot) {
      let ps = s.pageSize
      let under = s.extents.filter {
        $0.file == path && ($0.source == .delalloc || $0.source == .ordered || ($0.source == .tree && !s.copyOnWrite))
      }
      for p in s.pages where p.file == path && p.flags.contains(.dirty) {
        let r = ByteRange(start: p.index * ps, length: ps)
        guard p.flags.contains(.checked) || !under.contains(where: { $0.range.overlaps(r) }) else { continue }
        if !awaitingFixup.contains(r) { awaitingFixup.append(r) }
      }
    }

    /// Another task's operation began while the read was in flight: it counts if it is on the
    /// read's file.
    mutating func overlaps(_ op: Operation) {
      if op.path == path { overlapping.append(op) }
    }
  }

  /// Opens the window of a read of `path` that begins now, with the operations of other tasks
  /// already in flight on that file.
  func beginRead(_ path: String, inFlight: [Operation]) -> ReadWindow {
    ReadWindow(
      path: path, before: files[path]?.expected ?? [], minSizeBefore: files[path]?.minSize ?? 0,
      overlapping: inFlight.filter { $0.path == path })
  }

  /// The byte a write-like operation leaves at file offset `i`, or nil where it changes no byte
  /// (outside its range, or an operation that changes none). An append's offset is the file's
  /// end when it runs, unknown here: any offset.
  static func newByte(_ op: Operation, at i: UInt64) -> UInt8? {
    let start = op.offset ?? 0
    let inRange = i >= start && i - start < (op.length ?? 0)
    switch op.kind {
    case .append: return op.writeData.byte(at: i)
    case .write, .dioWrite, .mmapWrite, .pageMkwrite: return inRange ? op.writeData.byte(at: i) : nil
    case .punch, .zeroRange: return inRange ? 0 : nil
    case .truncate: return i >= (op.size ?? 0) ? 0 : nil
    default: return nil
    }
  }

  /// A read the plan made, as it returned `got`: the bytes of the range it asked for must be
  /// what the file holds, or (where a write of another task overlapped the read in time) what it
  /// held when the read began or what that write stores. A loss an error reported since is
  /// excused, as at rest.
  func checkRead(_ op: Operation, _ got: [UInt8], _ w: ReadWindow, moment: String) -> Violation? {
    guard let m = files[op.path], m.exists, !m.damaged else { return nil }
    let start = Int(min(op.offset ?? 0, UInt64(Int.max / 2)))
    let end = op.length.map { min(start + Int(min($0, UInt64(Int.max / 4))), m.expected.count) } ?? m.expected.count
    let want = start < end ? Array(m.expected[start..<end]) : []
    let base = UInt64(start)
    let older = Self.olderBytes(w.awaitingFixup, in: m)
    var bad: Mismatch?
    if w.overlapping.isEmpty {
      bad = Self.firstMismatch(got, want, m.eitherOld + older, minSize: m.minSize, base: base, paths: paths)
    } else {
      // Racing writers: per byte, now, before, or a racing write's byte (any length).
      for (i, g) in got.enumerated() {
        let at = start + i
        if i < want.count && want[i] == g { continue }
        if at < w.before.count && w.before[at] == g { continue }
        if w.overlapping.contains(where: { Self.newByte($0, at: UInt64(at)) == g }) { continue }
        if Self.allowedOld(at, g, m.eitherOld) || Self.allowedOld(at, g, older) { continue }
        bad = Mismatch(
          start: at,
          text:
            "byte \(at) read 0x\(String(g, radix: 16, uppercase: true)), neither the file's bytes before or after the read nor a racing write's"
        )
        break
      }
      // Short of what the file surely held when the read began (a racing write may have
      // extended it since), and no racing truncate could have cut it.
      let readEnd = start + got.count
      let surely = min(m.minSize, w.minSizeBefore)
      if bad == nil, got.count < want.count, readEnd < surely,
        !w.overlapping.contains(where: { $0.kind == .truncate })
      {
        bad = Mismatch(start: readEnd, text: "the read ended at byte \(readEnd); the file held at least \(surely)")
      }
    }
    guard let bad, !Self.reported(bad.start, in: m) else { return nil }
    return Violation(
      .errorsReported, moment: moment,
      "\(op.kind.rawValue) of \(op.path) returned wrong data and nobody was told: \(bad.text); no operation on \(op.path) returned an error after it was written",
      evidence: [bad.text])
  }

  /// What the disk may hold under `ranges` (pages a direct read's flush skipped): zeros, what
  /// setup left, or any write's bytes there; never garbage.
  static func olderBytes(_ ranges: [ByteRange], in m: FileModel) -> [(ByteRange, [UInt8])] {
    var out: [(ByteRange, [UInt8])] = []
    for r in ranges {
      out.append((r, [UInt8](repeating: 0, count: Int(r.length))))
      for seeded in [m.seeded] + m.seededReplaced {
        guard let x = r.intersection(ByteRange(0, UInt64(seeded.count))) else { continue }
        out.append((x, Array(seeded[Int(x.start)..<Int(x.end)])))
      }
      for w in m.history {
        guard let x = w.range.intersection(r) else { continue }
        out.append((x, w.bytes(x)))
      }
    }
    return out
  }
}
