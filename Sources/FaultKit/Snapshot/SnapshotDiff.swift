/// The structural difference of two snapshots, line by line, in words a filesystem developer
/// reads without a legend: `page /a#3 locked: unlocked -> locked (holder: writer in writeback #2)`.
public struct SnapshotDiff: Sendable, Hashable, Codable {
  public struct Line: Sendable, Hashable, Codable {
    public enum Section: String, Sendable, Hashable, Codable { case file, lock, extent, space, page, work }
    public let section: Section
    /// What the line is about (`page /a#3`, `ordered /a`, `space data`): invariants pick their
    /// evidence by it.
    public let subject: String
    public let text: String
  }
  public var lines: [Line] = []
  public var isEmpty: Bool { lines.isEmpty }

  /// The lines about `subject`: that exact subject, or one it names a part of
  /// (`range /a` covers `range /a [0, 16KiB)`; `page /a#1` does not cover `page /a#10`).
  public func lines(about subject: String) -> [String] {
    lines.filter { $0.subject == subject || $0.subject.hasPrefix(subject + " ") }.map(\.text)
  }
  public func lines(in section: Line.Section) -> [String] {
    lines.filter { $0.section == section }.map(\.text)
  }

  public init(from a: Snapshot, to b: Snapshot) {
    diffFiles(a.files, b.files)
    diffLocks(a.locks, b.locks)
    diffExtents(a.extents, b.extents)
    diffSpace(a.space, b.space)
    diffPages(a.pages, b.pages)
    diffWork(a.pendingWork, b.pendingWork)
    diffPinned(a.pinned, b.pinned)
    for x in b.assertions.dropFirst(min(a.assertions.count, b.assertions.count)) {
      add(.work, "assertion \(x.rule)", "assertion \(x.rule) broken: \(x.detail)")
    }
  }

  private mutating func add(_ s: Line.Section, _ subject: String, _ text: String) {
    lines.append(Line(section: s, subject: subject, text: text))
  }

  /// Walks two lists sorted by key, calling back for removed, added and common pairs that differ
  /// (an equal pair says nothing: every caller's `both` reports differences only).
  private static func merge<T: Equatable, K: Comparable>(
    _ a: [T], _ b: [T], key: (T) -> K, removed: (T) -> Void, added: (T) -> Void, both: (T, T) -> Void
  ) {
    // Snapshots that came from one parse share their lists.
    let same = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { x.baseAddress == $0.baseAddress } }
    if same && a.count == b.count { return }
    var i = 0
    var j = 0
    while i < a.count || j < b.count {
      // Most records of a large snapshot are unchanged: an equal pair needs no key.
      if i < a.count && j < b.count && a[i] == b[j] {
        i += 1
        j += 1
      } else if j == b.count || (i < a.count && key(a[i]) < key(b[j])) {
        removed(a[i])
        i += 1
      } else if i == a.count || key(b[j]) < key(a[i]) {
        added(b[j])
        j += 1
      } else {
        both(a[i], b[j])
        i += 1
        j += 1
      }
    }
  }

  private mutating func diffFiles(_ a: [FileRecord], _ b: [FileRecord]) {
    var out = self
    Self.merge(
      a, b, key: \.path,
      removed: { out.add(.file, "file \($0.path)", "file \($0.path): exists -> gone") },
      added: { out.add(.file, "file \($0.path)", "file \($0.path): absent -> size \(Size.format($0.size))") },
      both: { x, y in
        if x.size != y.size {
          out.add(.file, "file \(x.path)", "file \(x.path) size: \(Size.format(x.size)) -> \(Size.format(y.size))")
        }
        if x.pendingError != y.pendingError {
          out.add(
            .file, "file \(x.path)",
            "file \(x.path) mapping error: \(x.pendingError?.name ?? "none") -> \(y.pendingError?.name ?? "none")")
        }
      })
    self = out
  }

  private static func holders(_ l: LockRecord) -> String {
    let h = l.holders.isEmpty ? "none" : l.holders.map(\.description).joined(separator: ", ")
    let mode = l.mode == .shared ? "shared, " : ""
    let w = l.waiters.isEmpty ? "" : "; waiters: \(l.waiters.joined(separator: ", "))"
    return "(\(mode)holder: \(h)\(w))"
  }

  private mutating func diffLocks(_ a: [LockRecord], _ b: [LockRecord]) {
    var out = self
    Self.merge(
      a, b, key: \.key,
      removed: { out.add(.lock, $0.resource, "\($0.resource) locked: locked -> unlocked") },
      added: { out.add(.lock, $0.resource, "\($0.resource) locked: unlocked -> locked \(Self.holders($0))") },
      both: { x, y in
        if x.holders != y.holders || x.mode != y.mode || x.waiters != y.waiters {
          out.add(.lock, x.resource, "\(x.resource) holder: \(Self.holders(x)) -> \(Self.holders(y))")
        }
      })
    self = out
  }

  private mutating func diffExtents(_ a: [ExtentRecord], _ b: [ExtentRecord]) {
    var out = self
    Self.merge(
      a, b, key: \.key,
      removed: { out.add(.extent, "\($0.source.rawValue) \($0.file)", "- \($0.line)") },
      added: { out.add(.extent, "\($0.source.rawValue) \($0.file)", "+ \($0.line)") },
      both: { x, y in
        if x != y {
          out.add(.extent, "\(x.source.rawValue) \(x.file)", "- \(x.line)")
          out.add(.extent, "\(y.source.rawValue) \(y.file)", "+ \(y.line)")
        }
      })
    self = out
  }

  private mutating func diffSpace(_ a: [SpaceRecord], _ b: [SpaceRecord]) {
    var out = self
    Self.merge(
      a, b, key: \.name, removed: { _ in }, added: { _ in },
      both: { x, y in
        let fields: [(String, UInt64, UInt64)] = [
          ("used", x.used, y.used), ("reserved", x.reserved, y.reserved), ("may-use", x.mayUse, y.mayUse),
          ("free", x.free, y.free), ("total", x.total, y.total),
        ]
        for (n, u, v) in fields where u != v {
          out.add(.space, "space \(x.name)", "space \(x.name) \(n): \(Size.format(u)) -> \(Size.format(v))")
        }
        for u in (y.underflows ?? []).dropFirst(x.underflows?.count ?? 0) {
          out.add(.space, "space \(x.name)", "space \(x.name) below zero: \(u)")
        }
      })
    self = out
  }

  private static func flagWords(_ p: PageRecord) -> String {
    var n = p.flags.subtracting(.locked).names
    if p.diskAgrees == false { n.append("differs from disk") }
    return n.isEmpty ? "clean" : n.joined(separator: ", ")
  }

  private mutating func diffPages(_ a: [PageRecord], _ b: [PageRecord]) {
    var out = self
    Self.merge(
      a, b, key: \.key,
      removed: {
        out.add(.page, "page \($0.name)", "page \($0.name): cached (\(Self.flagWords($0))) -> evicted")
      },
      added: { out.add(.page, "page \($0.name)", "page \($0.name): absent -> cached (\(Self.flagWords($0)))") },
      both: { x, y in
        for (flag, name) in PageFlags.all where flag != .locked && x.flags.contains(flag) != y.flags.contains(flag) {
          let (from, to) = x.flags.contains(flag) ? ("set", "clear") : ("clear", "set")
          out.add(.page, "page \(x.name)", "page \(x.name) \(name): \(from) -> \(to)")
        }
        if x.diskAgrees != y.diskAgrees, y.diskAgrees == false || x.diskAgrees == false {
          let word = { (a: Bool?) in a == false ? "differs from disk" : "matches disk" }
          out.add(.page, "page \(x.name)", "page \(x.name) contents: \(word(x.diskAgrees)) -> \(word(y.diskAgrees))")
        }
      })
    self = out
  }

  private mutating func diffPinned(_ a: [PinnedRange], _ b: [PinnedRange]) {
    guard a != b else { return }
    // Few runs: compare as sets, print in block order.
    let before = Set(a)
    let after = Set(b)
    for p in a where !after.contains(p) { add(.space, "pinned", "- pinned \(p)") }
    for p in b where !before.contains(p) { add(.space, "pinned", "+ pinned \(p)") }
  }

  private mutating func diffWork(_ a: [String], _ b: [String]) {
    var out = self
    Self.merge(
      a.sorted(), b.sorted(), key: { $0 },
      removed: { out.add(.work, "work", "work done: \($0)") },
      added: { out.add(.work, "work", "work pending: \($0)") }, both: { _, _ in })
    self = out
  }
}
