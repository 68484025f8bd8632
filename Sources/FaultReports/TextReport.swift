import FaultKit

/// Terminal output for scenario results. A failure reads top-down the way a developer triages:
/// the violated invariant, the fault that led there, the diff, then the trace around the fault.
public enum TextReport {
  /// Events of trace shown before and after the first injected fault.
  public static let traceWindow = 12

  /// The result as terminal text. Plan names, task names, paths, engine messages and trace
  /// lines are the plan's and the engine's words: each line is escaped (`TerminalText.visible`),
  /// so none of them can move the cursor, reorder the line or start a line of its own.
  public static func render(_ r: ScenarioResult) -> String {
    render(r, reproduce: ReproCommand(program: "faultline").run(file: r.file, seed: r.seed, bugs: r.bugs))
  }

  /// The result, with `reproduce` as the command that reproduces a failure (nil: none said).
  public static func render(_ r: ScenarioResult, reproduce: String?) -> String {
    (r.passed ? renderPass(r) : renderFailure(r, reproduce: reproduce)).map { TerminalText.visible($0) + "\n" }
      .joined()
  }

  static func header(_ r: ScenarioResult) -> String {
    var h = "\(r.plan) (\(r.file)) engine \(r.engine)"
    if !r.bugs.isEmpty { h += ", bugs: \(r.bugs.joined(separator: ", "))" }
    h += ", seed \(r.seed), schedule \(r.schedule)"
    return h
  }

  /// The lines of a pass, unescaped.
  static func renderPass(_ r: ScenarioResult) -> [String] {
    let fired =
      r.fired.isEmpty
      ? "no fault fired" : "fired " + r.fired.map { "\($0.point)#\($0.hit) \($0.decision)" }.joined(separator: ", ")
    var out = [
      "PASS \(header(r)): \(r.ops.count) ops as expected, \(fired), \(r.invariantsChecked.count) invariants hold, \(r.steps) steps"
    ]
    // A fault the plan allows to stay unfired (`expect: { faults: any }`) is still said.
    for u in r.unfired ?? [] { out.append("  never fired: \(u.fault): \(u.reached)") }
    return out
  }

  /// The lines of a failure (or an unjudged run), unescaped.
  static func renderFailure(_ r: ScenarioResult, reproduce: String?) -> [String] {
    var out: [String] = []
    // Found nothing, but could not judge everything: not a pass, not a failure.
    out.append((r.failed ? "FAIL " : "UNJUDGED ") + header(r))
    if !r.violations.isEmpty {
      out.append("violated: \(r.violatedInvariants.map(\.rawValue).joined(separator: ", "))")
    }
    out.append("")
    out += unjudgedLines(r)
    for u in r.unfiredRequired {
      out.append("never fired: \(u.fault): \(u.reached) (expect: { faults: any } allows that)")
    }
    if !r.unfiredRequired.isEmpty { out.append("") }
    for v in r.violations {
      out.append("\(v.invariant) (\(v.moment)): \(v.message)")
      for e in PageRuns.fold(v.evidence) { out.append("    \(e)") }
    }
    if !r.violations.isEmpty { out.append("") }
    if r.fired.isEmpty {
      out.append("fault: none fired")
    } else {
      for h in r.fired {
        // A pinned yield is the schedule, not a failure.
        let word = h.decision.hasPrefix("yield") ? "preempt" : "fault"
        out.append(
          "\(word): \(h.point)#\(h.hit) \(h.decision) (task \(h.task), op \(h.op))"
            + (h.fault.map { "  [plan fault \($0 + 1): \(r.faults[$0])]" } ?? ""))
      }
    }
    let unexpected = r.unexpected
    if !unexpected.isEmpty {
      out.append("")
      for o in unexpected {
        out.append("unexpected: \(o.task)/\(o.index) \(o.op): \(o.outcome), expected \(o.expected)")
      }
    }
    out.append("")
    out.append("diff at rest (baseline -> now):")
    if r.diffAtRest.isEmpty { out.append("    (no change)") }
    for d in PageRuns.fold(r.diffAtRest) { out.append("    \(d)") }
    if let ff = r.diffFromFaultFree {
      out.append("")
      out.append("diff from the fault-free run (what the fault changed):")
      if ff.isEmpty { out.append("    (no change)") }
      for d in PageRuns.fold(ff) { out.append("    \(d)") }
    }
    out.append("")
    let (lo, hi) = window(r)
    out.append("trace around the fault (events \(lo + 1)-\(hi) of \(r.trace.count)):")
    for i in lo..<hi {
      out.append((i == r.firstFaultAt ? "  > " : "    ") + r.trace[i])
    }
    out.append("")
    out.append("operations:")
    for o in r.ops {
      let mark = o.asExpected ? "" : "   <-- expected \(o.expected)"
      out.append("    \(o.task)/\(o.index) \(o.op): \(o.outcome)\(mark)")
    }
    if let reproduce {
      out.append("")
      out.append("reproduce: \(reproduce)")
    }
    return out
  }

  /// What could not be judged, each with its raw bytes: read first, since nothing below is
  /// complete without it.
  public static func unjudgedLines(_ r: ScenarioResult) -> [String] {
    guard let u = r.unjudged, !u.isEmpty else { return [] }
    var out = ["unjudged: \(u.count) thing(s) the oracles could not read or interpret; the scenario cannot pass:"]
    for x in u {
      out.append("  \(x.kind.rawValue) (\(x.moment)): \(x.reason)")
      if let raw = x.raw { out.append("    raw: \(raw)") }
    }
    out.append("")
    return out
  }

  /// The slice of the trace around the first injected fault; the end of the trace if none fired.
  static func window(_ r: ScenarioResult) -> (Int, Int) {
    guard !r.trace.isEmpty else { return (0, 0) }
    if let f = r.firstFaultAt {
      return (max(0, f - traceWindow), min(r.trace.count, f + traceWindow + 1))
    }
    return (max(0, r.trace.count - 2 * traceWindow), r.trace.count)
  }
}
