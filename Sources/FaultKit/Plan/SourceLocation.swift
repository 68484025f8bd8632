/// Where a value came from: file, 1-based line and column.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
  public let file: String
  public let line: Int
  public let column: Int
  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }
  public var description: String { "\(file):\(line):\(column)" }
}

/// A bad plan: where, which key, what was expected, what was found, and a hint when one is near.
public struct PlanError: Error, Hashable, Sendable, CustomStringConvertible {
  public let location: SourceLocation
  /// The key path, `faults[0].at`.
  public let key: String
  public let expected: String
  public let found: String
  /// "did you mean 'alloc.data'?", or nil.
  public let hint: String?
  /// The other errors found in the same file, each located, in file order (a reader goes on past
  /// an error to report the next, so one run of `validate` names them all).
  public var others: [PlanError] = []

  public init(_ location: SourceLocation, key: String, expected: String, found: String, hint: String? = nil) {
    self.location = location
    self.key = key
    self.expected = expected
    self.found = found
    self.hint = hint
  }

  /// The errors `errors` holds as one, the first in file order leading; nil for none.
  public static func combined(_ errors: [PlanError]) -> PlanError? {
    var seen = Set<PlanError>()
    let unique = errors.filter { seen.insert($0).inserted }
    let sorted = unique.enumerated().sorted {
      ($0.element.location.line, $0.element.location.column, $0.offset)
        < ($1.element.location.line, $1.element.location.column, $1.offset)
    }.map(\.element)
    guard var first = sorted.first else { return nil }
    first.others = Array(sorted.dropFirst())
    return first
  }

  /// Every error in the file.
  public var all: [PlanError] {
    var me = self
    me.others = []
    return [me] + others
  }

  /// One line an error (several for several errors); what came from the plan (the key path, the
  /// value found, the file's name) is escaped for a terminal (`TerminalText.visible`).
  public var description: String {
    var s = "\(location): error: \(key.isEmpty ? "plan" : key): expected \(expected), found \(found)"
    if let hint { s += "; \(hint)" }
    return ([TerminalText.visible(s)] + others.map(\.description)).joined(separator: "\n")
  }
}

/// Suggestions for near-miss names.
public enum DidYouMean {
  /// The candidate closest to `word` by edit distance, if close enough to be a plausible typo.
  public static func suggest(_ word: String, among candidates: [String]) -> String? {
    let w = Array(word.lowercased())
    var best: (String, Int)?
    for c in candidates {
      let d = distance(w, Array(c.lowercased()))
      if d <= max(2, c.count / 3), best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
  }

  /// A hint sentence, or nil when nothing is near.
  public static func hint(_ word: String, among candidates: [String]) -> String? {
    suggest(word, among: candidates).map { "did you mean '\($0)'?" }
  }

  /// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
  /// transpositions ("wirte" is one typo from "write").
  static func distance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var older = Array(repeating: 0, count: b.count + 1)
    var prev = Array(0...b.count)
    var cur = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      cur[0] = i
      for j in 1...b.count {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
          cur[j] = min(cur[j], older[j - 2] + 1)
        }
      }
      (older, prev, cur) = (prev, cur, older)
    }
    return prev[b.count]
  }
}
