import Foundation

extension RunResults {
  /// Writes these results as `encoded()` does, byte for byte, with every plan's scenarios taken
  /// from `lines` as they come (plan by plan, in space order) instead of held: the rest is encoded
  /// whole, with each plan's `"scenarios":[]` filled as it is written out. That key is a plan
  /// object's alone, and quotes inside strings are escaped, so its bytes occur nowhere else.
  /// - Throws: `ResultsError` when a plan holds its scenarios (they would be written twice).
  public func write(lines: ScenarioLines, to out: (Data) throws -> Void) throws {
    guard plans.allSatisfy(\.scenarios.isEmpty) else {
      throw ResultsError(message: "results to stream hold their scenarios already")
    }
    let whole = try encoded()
    let mark = Data("\"scenarios\":[]".utf8)
    var marks: [Range<Data.Index>] = []
    var at = whole.startIndex
    while let r = whole.range(of: mark, in: at..<whole.endIndex) {
      marks.append(r)
      at = r.upperBound
    }
    guard marks.count == plans.count else {
      throw ResultsError(message: "results to stream: \(marks.count) scenario lists for \(plans.count) plans")
    }
    var from = whole.startIndex
    var opened = -1
    var first = true
    let comma = Data(",".utf8)
    let close = Data("]".utf8)
    /// Writes up to plan `p`'s list and opens it (closing the one open).
    func open(upTo p: Int) throws {
      while opened < p {
        if opened >= 0 { try out(close) }
        opened += 1
        try out(whole[from..<marks[opened].lowerBound])
        try out(Data("\"scenarios\":[".utf8))
        from = marks[opened].upperBound
        first = true
      }
    }
    try lines.drain { p, json in
      try open(upTo: p)
      if !first { try out(comma) }
      first = false
      try out(Data(json))
    }
    try open(upTo: plans.count - 1)
    if opened >= 0 { try out(close) }
    try out(whole[from...])
  }
}
