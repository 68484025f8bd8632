import FaultKit

/// The terminal summary of a run: per plan what ran; then each distinct failure, in the order the
/// space first met it, with its invariant, fault, count and repro; then fault-point coverage; then
/// the totals. Colour only when asked (the caller asks on a TTY without NO_COLOR).
public enum SummaryReport {
  public static func render(_ results: RunResults, dir: String, color: Bool) -> String {
    let paint = Paint(on: color)
    var out: [String] = []
    let t = TerminalText.visible
    let command = ReproCommand(results, directory: dir)
    for p in results.plans {
      var line = "\(t(p.plan)): \(p.ran) scenarios"
      let pruned = p.pruned + p.prunedChildren
      if pruned > 0 {
        line += ", \(pruned) pruned (\(Int((100 * Double(pruned) / Double(pruned + p.ran)).rounded()))% of the space)"
      }
      line += ", \(p.passed) passed, \(p.failed) failed"
      if p.unjudged > 0 { line += ", \(p.unjudged) unjudged" }
      line += ", \(p.failures.count) distinct failure(s)"
      out.append(line)
    }
    // Numbered as report.html numbers them (`FailureOrder`): bugs, unjudged, expected.
    let all = FailureOrder.of(results)
    let groups = all.filter { $0.section == .bug }.map { ($0.number, $0.plan, $0.failure) }
    let expected = all.filter { $0.section == .expected }.map { ($0.number, $0.plan, $0.failure) }
    let unjudged = all.filter { $0.section == .unjudged }.map { ($0.number, $0.plan, $0.failure) }
    if !groups.isEmpty {
      out.append("")
      out.append(paint.red("\(groups.count) distinct failure(s), the first found first:"))
      for (n, p, f) in groups {
        out.append(
          "\(n). " + paint.bold(t(f.invariants.joined(separator: ", "))) + " after "
            + t(f.faultWords.isEmpty ? "no fault" : f.faultWords.joined(separator: " + ")))
        out.append("   plan \(t(p.plan)) (\(t(p.engine))), \(f.count) scenario(s); schedule: \(t(f.scheduleWords))")
        if let d = f.detail { out.append("   \(t(d))") }
        if let w = f.rerunWords { out.append("   reruns: \(t(w))") }
        if let v = f.result?.violations.first { out.append("   \(t(v.invariant.rawValue)): \(t(v.message))") }
        out.append("   signature: \(t(f.signature))")
        if let repro = f.repro {
          out.append("   repro: \(t(command.replay(repro)))" + (f.shrunk.map { " (shrunk from \($0))" } ?? ""))
        }
        if let why = f.notShrunk { out.append("   repro kept as found: \(t(why))") }
        if let why = f.noSnapshots { out.append("   no snapshots: \(t(why))") }
      }
    }
    if !unjudged.isEmpty {
      out.append("")
      out.append(
        paint.red(
          "\(unjudged.count) group(s) of unjudged scenarios: the oracles could not read the state, so these did not pass:"
        ))
      for (n, p, f) in unjudged {
        out.append(
          "\(n). unjudged after " + t(f.faultWords.isEmpty ? "no fault" : f.faultWords.joined(separator: " + ")))
        out.append("   plan \(t(p.plan)) (\(t(p.engine))), \(f.count) scenario(s)")
        for u in (f.result?.unjudged ?? []).prefix(3) {
          out.append("   \(t(u.kind.rawValue)) (\(t(u.moment))): \(t(u.reason))")
          if let raw = u.raw { out.append("     raw: \(t(String(raw.prefix(200))))") }
        }
        if let repro = f.repro { out.append("   repro: \(t(command.replay(repro)))") }
      }
    }
    if !expected.isEmpty {
      out.append("")
      out.append(
        "\(expected.count) distinct failure(s) the engine calls expected behaviour, reported apart (not bugs):")
      for (n, p, f) in expected {
        let first = f.result?.violations.first.map { t($0.message) } ?? ""
        out.append("\(n). \(f.count)x \(t(p.plan)): \(t(f.faultWords.joined(separator: " + "))): \(first)")
      }
    }
    out.append("")
    for e in results.engines {
      let reached = e.coverage.filter { $0.reached > 0 || $0.fired > 0 }.count
      let fired = e.coverage.filter { $0.fired > 0 }.count
      let failed = e.coverage.filter { $0.failed > 0 }.count
      out.append(
        "coverage \(t(e.name)): \(e.points.count) points declared, \(reached) reached, \(fired) fired, \(failed) led to a failure"
      )
      if !e.unreached.isEmpty {
        out.append(paint.yellow("  reached by no plan: \(t(e.unreached.joined(separator: ", ")))"))
      }
    }
    out += ErrorCoverageSection.lines(results, paint: paint)
    let passed = results.passed
    out.append("")
    out.append("reports in \(t(dir))/: results.json, junit.xml, report.html")
    if let why = results.incompleteness { out.append(paint.yellow(why)) }
    let expectedScenarios = expected.reduce(0) { $0 + $1.2.count }
    out.append(
      paint.green("\(passed) passed") + ", "
        + (results.failed > 0 ? paint.red("\(results.failed) failed") : "0 failed")
        + (expectedScenarios > 0 ? " (\(expectedScenarios) of them expected)" : "")
        + (results.unjudged > 0 ? ", " + paint.red("\(results.unjudged) unjudged") : ""))
    return out.joined(separator: "\n") + "\n"
  }
}

/// ANSI colour, or nothing.
struct Paint {
  let on: Bool
  func wrap(_ s: String, _ code: String) -> String { on ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
  func red(_ s: String) -> String { wrap(s, "31") }
  func green(_ s: String) -> String { wrap(s, "32") }
  func yellow(_ s: String) -> String { wrap(s, "33") }
  func bold(_ s: String) -> String { wrap(s, "1") }
}
