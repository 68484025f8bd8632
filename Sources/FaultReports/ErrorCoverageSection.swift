import FaultKit

/// Error-handler coverage (`RunResults.errorCoverage`) as the terminal summary and report.html
/// show it: a line per engine, "error paths reached: N of M", then the unreached handlers by file
/// and line.
enum ErrorCoverageSection {
  /// Terminal lines: per engine its numbers, then a line per file of unreached handlers.
  static func lines(_ results: RunResults, paint: Paint) -> [String] {
    guard let all = results.errorCoverage, !all.isEmpty else { return [] }
    let t = TerminalText.visible
    var out: [String] = [""]
    for c in all {
      out.append("\(t(c.engine)): \(t(c.words))")
      if let note = c.note { out.append(paint.yellow("  \(t(note))")) }
      guard c.measured else { continue }
      if !c.unreached.isEmpty {
        out.append("  unreached:")
        for (file, sites) in c.unreachedByFile {
          out.append(paint.yellow("    \(t(file)): \(t(sites.joined(separator: ", ")))"))
        }
      }
      if let marked = c.unreachable, !marked.isEmpty {
        out.append("  marked unreachable in the source:")
        for s in marked { out.append("    \(t(s.words)): \(t(s.unreachableReason(for: c.engine) ?? ""))") }
      }
      if let wrong = c.refuted, !wrong.isEmpty {
        out.append(paint.red("  marked unreachable, but this run reached them (the marker is wrong):"))
        for s in wrong { out.append(paint.red("    \(t(s.words))")) }
      }
    }
    return out
  }

  /// The report.html section (empty when the run did not count error handlers).
  static func html(_ results: RunResults) -> String {
    guard let all = results.errorCoverage, !all.isEmpty else { return "" }
    func e(_ s: String) -> String { Markup.escape(s) }
    var h = "<section id=\"error-coverage\"><h2>Error-handler coverage</h2>"
    h += "<p class=\"note\">The error-handling sites of each engine's source (each catch, throw, error return and "
    h += "error branch) that the sweep's scenarios executed, per the counters of a coverage build.</p>"
    for c in all {
      h += "<h3>\(e(c.engine))</h3><p\(c.measured ? "" : " class=\"bad\"")>\(e(c.words))</p>"
      if let note = c.note { h += "<p class=\"note\">\(e(note))</p>" }
      guard c.measured else { continue }
      if let wrong = c.refuted, !wrong.isEmpty {
        h += "<p class=\"bad\">marked unreachable, but this run reached them (the marker is wrong): "
        h += wrong.map { "<code>\(e($0.words))</code>" }.joined(separator: ", ") + "</p>"
      }
      let marked = c.unreachable ?? []
      guard !c.unreached.isEmpty || !marked.isEmpty else { continue }
      h += "<details><summary>\(c.unreached.count) unreached"
      h += marked.isEmpty ? "" : ", \(marked.count) marked unreachable"
      h += "</summary><table class=\"cov\"><tr><th>file</th><th>line</th><th>kind</th><th>why</th></tr>"
      for s in c.unreached {
        h +=
          "<tr class=\"unreached\"><td><code>\(e(s.file))</code></td><td>\(s.line)</td><td>\(e(s.kind.rawValue))</td><td></td></tr>"
      }
      for s in marked {
        h +=
          "<tr><td><code>\(e(s.file))</code></td><td>\(s.line)</td><td>\(e(s.kind.rawValue))</td><td>\(e(s.unreachableReason(for: c.engine) ?? ""))</td></tr>"
      }
      h += "</table></details>"
    }
    return h + "</section>"
  }
}
