import FaultKit

/// Inline SVG of one file's state before and after: a lane per extent source (tree, cache,
/// delalloc, ordered), a lane of range locks and a lane of pages (dirty, writeback, locked,
/// uptodate), each lane only when the engine has such state, on one byte axis, so a developer sees a delalloc range with no dirty page over it,
/// or a page left locked, without reading the diff. Every label passes through `Markup`.
public enum ExtentPicture {
  static let width = 620.0
  static let labelWidth = 92.0
  static let lane = 13.0
  static let lanes = ["tree", "cache", "delalloc", "ordered", "locks", "pages"]
  /// Above this many records in a lane, the lane is drawn per pixel column.
  static let maxRects = 200

  /// The files either snapshot has records for; at most `limit` of them: the plan's own files
  /// first (`planPaths`, in the order its operations name them), then the others that changed,
  /// then the rest, each group sorted. An engine's own files (ext2fs's `/lost+found`, the
  /// `/.fragment` its setup fills free space with) come after what the plan works on.
  public static func files(_ before: Snapshot, _ after: Snapshot, planPaths: [String] = [], limit: Int = 6) -> (
    shown: [String], more: Int
  ) {
    var all = Set<String>()
    for s in [before, after] {
      all.formUnion(s.files.map(\.path))
      all.formUnion(s.extents.map(\.file))
      all.formUnion(s.pages.map(\.file))
    }
    var seen = Set<String>()
    let plans = planPaths.filter { all.contains($0) && seen.insert($0).inserted }
    let rest = all.subtracting(plans)
    let changed = rest.filter { records(before, $0) != records(after, $0) }.sorted()
    let same = rest.subtracting(changed).sorted()
    let ordered = plans + changed + same
    return (Array(ordered.prefix(limit)), max(0, ordered.count - limit))
  }

  /// The paths a scenario's operations name, in order, from their descriptions
  /// (`write { path: /a, offset: 0 }`, as `Operation.description` writes them).
  public static func planPaths(_ ops: [OpRecord]) -> [String] {
    let after = ["offset", "length", "pattern", "size", "target", "name", "value", "mode"].map { ", \($0): " }
    var out: [String] = []
    for o in ops {
      guard let start = o.op.range(of: " { path: ") else { continue }
      var rest = o.op[start.upperBound...]
      if rest.hasSuffix(" }") { rest = rest.dropLast(2) }
      let cut = after.compactMap { rest.range(of: $0)?.lowerBound }.min() ?? rest.endIndex
      let path = String(rest[..<cut])
      if !out.contains(path) { out.append(path) }
    }
    return out
  }

  /// The lanes either snapshot has any record for, in any file: an engine that keeps no
  /// extent cache, delalloc, ordered extents, range locks or page cache (ext2fs) draws none of
  /// those empty lanes. The tree lane is always drawn.
  public static func lanes(_ before: Snapshot, _ after: Snapshot) -> [String] {
    lanes.filter { lane in
      lane == "tree"
        || [before, after].contains { s in
          switch lane {
          case "locks": s.locks.contains { $0.range != nil }
          case "pages": !s.pages.isEmpty
          default: s.extents.contains { $0.source.rawValue == lane }
          }
        }
    }
  }

  static func records(_ s: Snapshot, _ f: String) -> [String] {
    s.extents.filter { $0.file == f }.map(\.line)
      + s.pages.filter { $0.file == f }.map { "\($0.index) \($0.flags.rawValue)" }
      + s.locks.filter { $0.object == f || $0.object.hasPrefix(f + "#") }.map(\.resource)
      + s.files.filter { $0.path == f }.map { "\($0.size)" }
  }

  /// Bytes the axis spans: the furthest record of the file in either snapshot, whole pages.
  static func span(_ f: String, _ snaps: [Snapshot]) -> UInt64 {
    var end: UInt64 = 0
    let page = snaps.first?.pageSize ?? 4096
    for s in snaps {
      for x in s.files where x.path == f { end = max(end, x.size) }
      for e in s.extents where e.file == f && e.range.end != UInt64.max { end = max(end, e.range.end) }
      for p in s.pages where p.file == f { end = max(end, (p.index + 1) * s.pageSize) }
      for l in s.locks where l.object == f { if let r = l.range, r.end != UInt64.max { end = max(end, r.end) } }
    }
    return max(page, (end + page - 1) / page * page)
  }

  public static func svg(file f: String, before: Snapshot, after: Snapshot) -> String {
    let span = span(f, [before, after])
    let shown = lanes(before, after)
    let panel = Double(shown.count) * (lane + 2) + 18
    let height = 2 * panel + 22
    var out =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"extents\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
    out += "<title>\(Markup.escape("\(f): extents, locks and pages before and after"))</title>"
    out += "<text x=\"0\" y=\"12\" class=\"file\">\(Markup.escape(f))</text>"
    out += "<text x=\"\(Int(width))\" y=\"12\" text-anchor=\"end\" class=\"axis\">0 … \(Size.format(span))</text>"
    out += draw(f, before, "before", top: 20, span: span, lanes: shown)
    out += draw(f, after, "after", top: 20 + panel, span: span, lanes: shown)
    out += "</svg>"
    return out
  }

  static func x(_ b: UInt64, _ span: UInt64) -> Double {
    labelWidth + (width - labelWidth) * Double(min(b, span)) / Double(span)
  }

  static func rect(_ x0: Double, _ x1: Double, _ y: Double, _ cls: String, _ title: String) -> String {
    let w = max(1.5, x1 - x0)
    return
      "<rect x=\"\(fmt(x0))\" y=\"\(fmt(y))\" width=\"\(fmt(w))\" height=\"\(Int(lane))\" class=\"\(cls)\"><title>\(Markup.escape(title))</title></rect>"
  }

  /// One decimal, the same digits everywhere.
  static func fmt(_ d: Double) -> String { String(Double(Int((d * 10).rounded())) / 10) }

  static func draw(_ f: String, _ s: Snapshot, _ name: String, top: Double, span: UInt64, lanes: [String]) -> String {
    var out = "<text x=\"0\" y=\"\(fmt(top + 10))\" class=\"panel\">\(name)</text>"
    for (i, laneName) in lanes.enumerated() {
      let y = top + 14 + Double(i) * (lane + 2)
      out +=
        "<text x=\"\(fmt(labelWidth - 6))\" y=\"\(fmt(y + 10))\" text-anchor=\"end\" class=\"lane\">\(laneName)</text>"
      out +=
        "<rect x=\"\(fmt(labelWidth))\" y=\"\(fmt(y))\" width=\"\(fmt(width - labelWidth))\" height=\"\(Int(lane))\" class=\"bg\"/>"
      switch laneName {
      case "locks":
        for l in s.locks where l.object == f {
          guard let r = l.range else { continue }
          let who = l.holders.map(\.description).joined(separator: ", ")
          out += rect(
            x(r.start, span), x(r.end, span), y, "lock",
            "\(l.resource) held by \(who.isEmpty ? "nobody" : who)"
              + (l.waiters.isEmpty ? "" : "; waiting: \(l.waiters.joined(separator: ", "))"))
        }
      case "pages":
        for p in s.pages where p.file == f {
          let flags = p.flags
          let cls =
            flags.contains(.locked)
            ? "pg-locked"
            : flags.contains(.writeback) ? "pg-writeback" : flags.contains(.dirty) ? "pg-dirty" : "pg-clean"
          out += rect(
            x(p.index * s.pageSize, span), x((p.index + 1) * s.pageSize, span), y, cls,
            "page \(p.name): \(flags.names.joined(separator: ", "))")
        }
      default:
        let records = s.extents.filter { $0.file == f && $0.source.rawValue == laneName }
        if records.count <= maxRects {
          for e in records {
            let cls = "ex-\(e.source.rawValue)" + (e.state == "hole" ? " hole" : "")
            out += rect(x(e.range.start, span), x(e.range.end, span), y, cls, e.line)
          }
        } else {
          // Thousands of extents (a fragmented file): one rect per pixel column they touch, so
          // the picture stays a few kilobytes; the tooltip says how many it stands for.
          var columns = [Int](repeating: 0, count: Int(width) + 1)
          for e in records {
            let a = Int(x(e.range.start, span))
            let b = max(a, Int(x(e.range.end, span)) - 1)
            for c in a...b { columns[c] += 1 }
          }
          for (c, n) in columns.enumerated() where n > 0 {
            out += rect(
              Double(c), Double(c + 1), y, "ex-\(laneName)", "\(n) \(laneName) extent(s) of \(records.count) here")
          }
        }
      }
    }
    return out
  }

  /// Locks that are not byte ranges of the file (inode locks, rw-semaphores), as lines under the picture.
  public static func otherLocks(_ f: String, _ s: Snapshot) -> [String] {
    s.locks.filter { ($0.object == f && $0.range == nil) }.map { l in
      "\(l.resource) (\(l.mode.rawValue)) held by \(l.holders.map(\.description).joined(separator: ", "))"
        + (l.waiters.isEmpty ? "" : "; waiting: \(l.waiters.joined(separator: ", "))")
    }
  }
}
