import FaultKit
import FaultReports

/// The last lines a sweep prints, after the per-plan lines and the failures: what was swept, what
/// it found and whose code that is, how much of it the baseline (`--known`) already holds and how
/// much is new, where the reports are, and what the exit status says. Its status is the sweep's:
/// 1 when a failure is neither expected by its engine nor in the baseline, else 0.
struct SweepClosing {
  /// Whose code a failure of an engine is in, for engines that are not models of ours.
  static let findingsIn: [String: String] = [
    "ext2fs":
      "in e2fsprogs' libext2fs itself: real bugs of a real library, what the engine is for (Plans/ext2fs/README.md)",
    "linux": "in the real kernel under User-Mode Linux (Plans/linux/README.md)",
  ]

  let lines: [String]
  let failed: Bool

  init(_ results: RunResults, dir: String, known: KnownFailures?) {
    var out: [String] = []
    let t = TerminalText.visible
    // What was swept, by engine (sorted by name: the same results give the same lines).
    var plansBy: [String: Int] = [:]
    for p in results.plans { plansBy[p.engine, default: 0] += 1 }
    let engines = plansBy.keys.sorted().map { "\(t($0)) \(plansBy[$0]!)" }.joined(separator: ", ")
    var swept =
      "swept \(results.plans.count) plan(s) (\(engines)): \(results.scenarios) scenarios, \(results.passed) passed, \(results.failed) failed"
    if results.unjudged > 0 { swept += ", \(results.unjudged) unjudged" }
    out.append(swept)

    let all = results.plans.flatMap { p in p.failures.map { (plan: p, group: $0) } }
    let expected = all.filter { $0.group.expected }
    // What holds the exit status: judged failures and groups that could not be judged.
    let findings = all.filter { !$0.group.expected }
    let judged = findings.filter { !$0.group.isUnjudged }
    let unjudged = findings.filter { $0.group.isUnjudged }
    func byEngine(_ groups: [(plan: PlanResults, group: FailureGroup)], whose: Bool) {
      var count: [String: Int] = [:]
      for f in groups { count[f.plan.engine, default: 0] += 1 }
      for e in count.keys.sorted() {
        out.append("  \(count[e]!) in \(t(e))" + (whose ? Self.findingsIn[e].map { ", \($0)" } ?? "" : ""))
      }
    }
    if findings.isEmpty {
      out.append("no failure beyond what the engines call expected behaviour")
    }
    if !judged.isEmpty {
      out.append("\(judged.count) distinct failure(s):")
      byEngine(judged, whose: true)
    }
    if !unjudged.isEmpty {
      let scenarios = unjudged.reduce(0) { $0 + $1.group.count }
      out.append(
        "\(unjudged.count) group(s) of unjudged scenarios (\(scenarios)): the oracles could not read the state, so they did not pass:"
      )
      byEngine(unjudged, whose: false)
    }
    if !expected.isEmpty {
      out.append("\(expected.count) more the engines call expected behaviour, listed apart (not bugs)")
    }
    let new: [(plan: PlanResults, group: FailureGroup)]
    if let known {
      let comparison = RunComparison(now: results, earlier: [:], known: known.keys)
      let newKeys = Set(comparison.new)
      new = findings.filter { newKeys.contains(RunComparison.Key(plan: $0.plan.plan, signature: $0.group.signature)) }
      var line =
        "against the baseline \(t(known.path)) (\(known.entries.count) entries): \(findings.count - new.count) known, \(new.count) new"
      // Entries of plans swept here that no scenario showed: fixed (a scenario it names ran and
      // passed) or not rechecked; entries of plans not swept here are neither.
      let swept = Set(results.plans.map(\.plan))
      let unseen = (comparison.fixed + comparison.unchecked).filter { swept.contains($0.plan) }
      if !unseen.isEmpty {
        line += "; \(unseen.count) of its entries for plans swept here not seen"
      }
      out.append(line)
      for f in new.prefix(10) {
        out.append("  new: plan: \(t(f.plan.plan)), signature: \"\(t(f.group.signature))\"")
      }
      if new.count > 10 { out.append("  … \(new.count - 10) more new (results.json has each)") }
    } else {
      new = findings
      if !findings.isEmpty {
        out.append("no baseline given (--known FILE): each of them counts as new")
      }
    }
    out.append("reports: \(t(dir))/report.html (and results.json, junit.xml, repro/*.yaml)")
    if !results.complete {
      out.append("incomplete: the space was not swept to its end (the reports say what ran)")
    }
    failed = !new.isEmpty
    out.append(
      failed
        ? "exit 1: \(new.count) failure(s) neither expected by the engines nor in a baseline (0: none; 2: bad input)"
        : "exit 0: nothing beyond \(known == nil ? "what the engines expect" : "the baseline and what the engines expect") (1: something new; 2: bad input)"
    )
    lines = out
  }
}
