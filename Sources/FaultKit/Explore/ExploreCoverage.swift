/// What a sweep of one generated plan reached, as a set of opaque items: the signal
/// `faultline explore` is guided by (a workload that adds an item is kept and mutated) and the
/// corpus is chosen by (a smallest set of plans reaching every item). Items are compared as
/// strings only; their spelling belongs to the signal that made them.
///
/// Another signal plugs in here: error-handler coverage from an instrumented build (the handler
/// IDs, `file:line`, a plan's sweep executed) is a `CoverageSignal` whose `items` reads them
/// from the sweep's run directory, or `ExploreCoverage.union` of it with `SweepCoverage`.
public protocol CoverageSignal: Sendable {
  /// The signal's name, recorded in explore's state (a resumed run must use the same one).
  var name: String { get }
  /// The items one plan's sweep reached.
  /// - Parameters:
  ///   - plan: the plan's results in the sweep's results.json.
  ///   - runDirectory: the sweep's report directory (results.json and anything else it wrote).
  func items(of plan: PlanResults, runDirectory: String) -> Set<String>
  /// Arguments the sweep of a generation needs for this signal to read anything
  /// (`--error-coverage`); none by default.
  var sweepArguments: [String] { get }
  /// The signal is a property of a whole sweep, not of each plan in it (error-handler coverage is
  /// counted per engine): explore then sweeps one plan at a time, so each plan's items are its own.
  var wholeSweep: Bool { get }
}

extension CoverageSignal {
  public var sweepArguments: [String] { [] }
  public var wholeSweep: Bool { false }
}

/// The default signal, from what every sweep reports: the points the fault-free run reached
/// (`reach io.write`), and for each scenario each fault that fired: the point, its hit (1st, 2nd,
/// or a later one: a loop's later iterations), the action, the operation it fired in, the
/// kinds of operation that then failed (distinct, sorted) and how the scenario ended
/// (`fire io.write#1:fail:EIO in fsync -> fsync:EIO; passed`; a failure ends in its violated
/// invariants: `-> writeback:ENOSPC; locks-released@rest no-hang@rest`). Distinct tuples of
/// those: a fault in another operation or iteration, an error surfacing elsewhere or swallowed,
/// a scenario ending another way, went through other code.
public struct SweepCoverage: CoverageSignal {
  public init() {}
  public var name: String { "sweep-points" }

  public func items(of plan: PlanResults, runDirectory: String) -> Set<String> {
    var out = Set(plan.reached.filter { $0.hits > 0 }.map { "reach \($0.point)" })
    for s in plan.scenarios {
      let end: String
      switch s.outcome {
      case .passed: end = "passed"
      case .unjudged: end = "unjudged"
      case .crashed, .timedOut: end = s.outcome.rawValue
      case .failed: end = Self.violated(s.signature)
      }
      // Distinct and sorted: which kinds of operation failed how, not how often (a longer plan
      // repeats them) nor in which order.
      let errors = Set((s.errors ?? []).map(Self.kindAndEnd)).sorted()
      let surfaced = errors.isEmpty ? "" : errors.joined(separator: ",") + "; "
      for f in s.fired where !f.decision.hasPrefix("yield") {
        let action = f.decision.replacingOccurrences(of: ": ", with: ":")
        let hit = f.hit <= 2 ? "#\(f.hit)" : "#3+"
        out.insert("fire \(f.point)\(hit):\(action) in \(f.op ?? "-") -> \(surfaced)\(end)")
      }
    }
    return out
  }

  /// `t1/2 fsync: EIO` → `fsync:EIO`: which kind of operation failed how, not which task or
  /// which of its operations (an argument list after the kind, `write { … }: EIO`, is dropped).
  static func kindAndEnd(_ e: String) -> String {
    let rest = e.split(separator: " ", maxSplits: 1).dropFirst().first ?? Substring(e)
    let kind = rest.prefix { $0 != " " && $0 != ":" }
    guard let colon = e.range(of: ": ", options: .backwards) else { return String(kind) }
    return "\(kind):\(e[colon.upperBound...])"
  }

  /// The violated part of a sweep signature (before its first `|`), or `failed`.
  static func violated(_ signature: String?) -> String {
    guard let s = signature else { return "failed" }
    let head = s.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    let words = head.split(separator: " ")
    return words.isEmpty ? "failed" : words.joined(separator: " ")
  }
}

/// Signals made of others, or of a closure.
public enum ExploreCoverage {
  /// A signal from a closure (`name` for the state file).
  public struct Closure: CoverageSignal {
    public let name: String
    let body: @Sendable (PlanResults, String) -> Set<String>
    public init(name: String, _ body: @escaping @Sendable (PlanResults, String) -> Set<String>) {
      self.name = name
      self.body = body
    }
    public func items(of plan: PlanResults, runDirectory: String) -> Set<String> { body(plan, runDirectory) }
  }

  /// The union of several signals' items, each prefixed with its signal's name so they never collide.
  public struct Union: CoverageSignal {
    public let signals: [any CoverageSignal]
    public init(_ signals: [any CoverageSignal]) { self.signals = signals }
    public var name: String { signals.map(\.name).joined(separator: "+") }
    public var sweepArguments: [String] {
      var out: [String] = []
      for s in signals { for a in s.sweepArguments where !out.contains(a) { out.append(a) } }
      return out
    }
    public var wholeSweep: Bool { signals.contains { $0.wholeSweep } }
    public func items(of plan: PlanResults, runDirectory: String) -> Set<String> {
      var out = Set<String>()
      for s in signals { for i in s.items(of: plan, runDirectory: runDirectory) { out.insert("\(s.name): \(i)") } }
      return out
    }
  }
}
