/// What a comment in an engine's source says of the error-handling site it stands over: that no
/// scenario can reach the site, and why, or that the site is not an error path at all (a check
/// of input the plan loader has already rejected). The reason lives next to the code, so it moves
/// with it and a reviewer reads it where the site is:
///
///     // unreachable error path: a reservation backs every delalloc byte, so the allocator
///     // runs dry here only when reservations are miscounted (space-balanced reports that).
///     guard let got = allocator.allocate(want: want) else { throw FSError(.noSpace) }
///
///     // unreachable error path in ext4-model, xfs-model: only btrfs-model offers `corrupt`.
///     // not an error path: the plan loader rejects operations the engine does not list.
///
/// A marker starts a `//` comment: on the site's own line, or on a comment-only line of the
/// block of comment lines directly above it; its reason runs on over the comment lines after it
/// in that block. `in ENGINE, ENGINE` limits it to those engines (a ModelKernel site one engine
/// reaches and another cannot).
///
/// Checks: the marker's words and its `:`. Does not check: that the reason is true. Coverage
/// does check the one thing it can: a site marked unreachable that a sweep reached is reported
/// as a wrong marker (`EngineErrorCoverage.refuted`).
public struct ErrorPathMarker: Sendable, Codable, Hashable {
  public enum Verdict: String, Sendable, Codable, Hashable {
    /// Counted among the engine's handlers, listed apart from the unreached with its reason.
    case unreachable
    /// Left out of the engine's inventory (as a setup parser's file is), listed by
    /// `faultline error-handlers` with its reason.
    case notAnErrorPath = "not-an-error-path"
  }

  public let verdict: Verdict
  /// The engines it speaks for; nil: every engine whose sources hold the file.
  public let engines: [String]?
  public let reason: String

  public init(verdict: Verdict, engines: [String]?, reason: String) {
    self.verdict = verdict
    self.engines = engines
    self.reason = reason
  }

  public func applies(to engine: String) -> Bool { engines?.contains(engine) ?? true }

  static let phrases: [(String, Verdict)] = [
    ("unreachable error path", .unreachable), ("not an error path", .notAnErrorPath),
  ]

  /// The markers of `source`, by the line (1-based) of the code each stands over.
  public static func markers(in source: String) -> [Int: ErrorPathMarker] {
    let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
    var out: [Int: ErrorPathMarker] = [:]
    var k = 0
    while k < lines.count {
      let line = lines[k]
      guard let (marker, text) = parse(line) else {
        k += 1
        continue
      }
      guard isCommentOnly(line) else {
        // A trailing comment: the code on its own line.
        if let m = marker(text) { out[k + 1] = m }
        k += 1
        continue
      }
      // The rest of the comment block continues the reason; the marker stands over the first
      // code line after the block.
      var reason = text
      var j = k + 1
      while j < lines.count, isCommentOnly(lines[j]) {
        reason += " " + commentText(lines[j])
        j += 1
      }
      if j < lines.count, let m = marker(reason) { out[j + 1] = m }
      k = j
    }
    return out
  }

  /// The text after a line's marker phrase and a builder of the marker from (that text and what
  /// follows it), or nil when the line has no marker.
  private static func parse(_ line: Substring) -> ((String) -> ErrorPathMarker?, String)? {
    guard let slashes = line.range(of: "//") else { return nil }
    let comment = line[slashes.upperBound...].drop { $0 == " " || $0 == "/" }
    for (phrase, verdict) in phrases where comment.hasPrefix(phrase) {
      let rest = String(comment.dropFirst(phrase.count))
      return ({ text in build(verdict, text) }, rest)
    }
    return nil
  }

  /// `[ in A, B]: REASON` → the marker; nil without a `:` or a reason.
  private static func build(_ verdict: Verdict, _ text: String) -> ErrorPathMarker? {
    guard let colon = text.firstIndex(of: ":") else { return nil }
    let head = text[..<colon].trimmingSpaces()
    let reason = text[text.index(after: colon)...].trimmingSpaces()
    guard !reason.isEmpty else { return nil }
    var engines: [String]?
    if head.hasPrefix("in ") {
      engines = head.dropFirst(3).split(separator: ",").map { String($0.trimmingSpaces()) }.filter { !$0.isEmpty }
    } else if !head.isEmpty {
      return nil
    }
    return ErrorPathMarker(verdict: verdict, engines: engines, reason: String(reason))
  }

  private static func isCommentOnly(_ line: Substring) -> Bool { line.trimmingSpaces().hasPrefix("//") }

  private static func commentText(_ line: Substring) -> String {
    String(line.trimmingSpaces().drop { $0 == "/" }.trimmingSpaces())
  }
}

extension Substring {
  fileprivate func trimmingSpaces() -> Substring {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else {
      return self[endIndex...]
    }
    return self[first...last]
  }
}

extension String {
  fileprivate func trimmingSpaces() -> Substring { self[...].trimmingSpaces() }
}
