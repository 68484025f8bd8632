/// Folds per-page lines that say the same thing into one line over a run of pages:
/// `page /a#4: absent -> cached (uptodate)` … `page /a#15: …` becomes
/// `pages /a#4-15: absent -> cached (uptodate)`. Other lines keep their place.
public enum PageRuns {
  public static func fold(_ lines: [String]) -> [String] {
    struct Group {
      var file: String
      var rest: String
      var indexes: [UInt64]
    }
    var out: [Either] = []
    var groups: [Group] = []
    var groupOf: [String: Int] = [:]
    enum Either {
      case line(String)
      case group(Int)
    }
    for l in lines {
      guard let (file, index, rest) = parse(l) else {
        out.append(.line(l))
        continue
      }
      let key = file + "\u{0}" + rest
      if let g = groupOf[key] {
        groups[g].indexes.append(index)
      } else {
        groupOf[key] = groups.count
        out.append(.group(groups.count))
        groups.append(Group(file: file, rest: rest, indexes: [index]))
      }
    }
    return out.map { e in
      switch e {
      case .line(let l): return l
      case .group(let g):
        let grp = groups[g]
        let runs = ranges(grp.indexes.sorted())
        let label = runs.count == 1 && runs[0].0 == runs[0].1 ? "page" : "pages"
        let spans = runs.map { $0.0 == $0.1 ? "\($0.0)" : "\($0.0)-\($0.1)" }.joined(separator: ",")
        return "\(label) \(grp.file)#\(spans)\(grp.rest)"
      }
    }
  }

  /// `page /a#12 dirty: set -> clear` → ("/a", 12, " dirty: set -> clear"). Lock lines fold
  /// only when their holders and waiters read the same.
  static func parse(_ l: String) -> (String, UInt64, String)? {
    guard l.hasPrefix("page "), let hash = l.firstIndex(of: "#") else { return nil }
    let file = String(l[l.index(l.startIndex, offsetBy: 5)..<hash])
    var i = l.index(after: hash)
    var digits = ""
    while i < l.endIndex, let d = l[i].wholeNumberValue {
      digits.append(Character(String(d)))
      i = l.index(after: i)
    }
    guard let n = UInt64(digits) else { return nil }
    let rest = String(l[i...])
    return (file, n, rest)
  }

  static func ranges(_ xs: [UInt64]) -> [(UInt64, UInt64)] {
    var out: [(UInt64, UInt64)] = []
    for x in xs {
      if let last = out.last, last.1 + 1 == x {
        out[out.count - 1].1 = x
      } else if out.last?.1 != x {
        out.append((x, x))
      }
    }
    return out
  }
}
