import FaultKit

/// The distinct failures of a run in the one order every report lists them, numbered once, so
/// failure 3 in the terminal is failure 3 in report.html: the bugs first (each plan's in the order
/// its space met them), then the groups the oracles could not judge, then what the engines call
/// expected behaviour.
public enum FailureOrder {
  /// Which list a failure belongs to.
  public enum Section: Sendable, Equatable {
    /// Not expected, judged: a bug until shown otherwise.
    case bug
    /// The oracles could not read the state: not a pass.
    case unjudged
    /// Every violated invariant is one its engine calls expected.
    case expected
  }

  /// One failure with its number (1-based, over all sections) and its plan.
  public struct Entry: Sendable {
    public let number: Int
    public let plan: PlanResults
    public let failure: FailureGroup
    public let section: Section
  }

  /// The section a failure belongs to.
  public static func section(_ f: FailureGroup) -> Section {
    f.expected ? .expected : f.isUnjudged ? .unjudged : .bug
  }

  /// Every failure of `results`, bugs first, then unjudged, then expected, numbered in that order.
  public static func of(_ results: RunResults) -> [Entry] {
    let all = results.plans.flatMap { p in p.failures.map { (p, $0) } }
    var out: [Entry] = []
    for s in [Section.bug, .unjudged, .expected] {
      for (p, f) in all where section(f) == s {
        out.append(Entry(number: out.count + 1, plan: p, failure: f, section: s))
      }
    }
    return out
  }
}
