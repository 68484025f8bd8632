import Foundation

/// What `faultline explore` may generate for one engine: the setups it starts from (file shapes
/// and free-space states the engine's `setup:` language can express) and the operation templates
/// it strings together, each an ordinary plan operation. Engines know their setup language; this
/// type only holds it, so FaultKit stays free of engines.
public struct ExploreProfile: Sendable {
  /// A starting state: a name (`fragmented`), what it is for the person reading a corpus plan,
  /// and the `setup:` section as YAML text (block style, no `setup:` key).
  public struct Setup: Sendable, Hashable {
    public let name: String
    public let about: String
    public let yaml: String
    public init(name: String, about: String, yaml: String) {
      self.name = name
      self.about = about
      self.yaml = yaml
    }
  }

  /// One step a workload may contain, named for the corpus comments (`write-unaligned`): an
  /// operation, or a few that only make sense together (`drop-caches` then `read`: a cold read).
  public struct Template: Sendable, Hashable {
    public let name: String
    public let ops: [Operation]
    public init(_ name: String, _ op: Operation) {
      self.name = name
      ops = [op]
    }
    public init(_ name: String, ops: [Operation]) {
      precondition(!ops.isEmpty, "a template without operations")
      self.name = name
      self.ops = ops
    }
  }

  public let engine: String
  public let setups: [Setup]
  public let templates: [Template]
  /// The small alphabet of the systematic phase: indices into `templates`, in the order the
  /// enumeration uses.
  public let alphabet: [Int]
  /// The most operations one generated workload holds (all tasks together), and the most tasks.
  public let maxOps: Int
  public let maxTasks: Int

  public init(
    engine: String, setups: [Setup], templates: [Template], alphabet: [Int], maxOps: Int = 6, maxTasks: Int = 2
  ) {
    precondition(!setups.isEmpty && !templates.isEmpty && !alphabet.isEmpty, "an empty explore profile")
    precondition(alphabet.allSatisfy { templates.indices.contains($0) }, "an alphabet index out of range")
    precondition(maxOps >= 1 && (1...2).contains(maxTasks), "explore bounds out of range")
    self.engine = engine
    self.setups = setups
    self.templates = templates
    self.alphabet = alphabet
    self.maxOps = maxOps
    self.maxTasks = maxTasks
  }

  /// The plan of `w`, named `name`, with an `about:` saying how it was made and what it holds;
  /// its setup parsed from the profile's YAML text (as a plan file would give it).
  /// - Throws: `PlanError` when a setup's YAML does not parse (a profile bug).
  public func plan(_ w: Workload, name: String, origin: String) throws -> Plan {
    let setup = setups[w.setup]
    let value = try PlanValue.parse(setup.yaml, file: "<explore \(engine) setup \(setup.name)>")
    let tasks = w.tasks.enumerated().map { k, steps in
      PlanTask(name: "t\(k + 1)", ops: steps.flatMap { templates[$0].ops })
    }
    return Plan(
      name: name, engine: engine, about: "\(origin). \(describe(w)).", setup: value, tasks: tasks)
  }

  /// The workload in words: `setup fragmented; t1: write-head, fsync; t2: unlink`.
  public func describe(_ w: Workload) -> String {
    let tasks = w.tasks.enumerated().map { k, steps in
      "t\(k + 1): " + steps.map { templates[$0].name }.joined(separator: ", ")
    }
    return (["setup \(setups[w.setup].name)"] + tasks).joined(separator: "; ")
  }

  /// Whether `w` lies within the profile's bounds (indices, operation and task counts).
  public func admits(_ w: Workload) -> Bool {
    setups.indices.contains(w.setup) && (1...maxTasks).contains(w.tasks.count)
      && w.tasks.allSatisfy { !$0.isEmpty && $0.allSatisfy(templates.indices.contains) } && opCount(w) <= maxOps
  }

  /// The operations `w`'s plan holds, all tasks together (a template may hold several).
  public func opCount(_ w: Workload) -> Int {
    w.tasks.reduce(0) { $0 + $1.reduce(0) { $0 + (templates.indices.contains($1) ? templates[$1].ops.count : 0) } }
  }
}

/// A generated workload: a setup of the profile and, per task, the templates it runs in order.
public struct Workload: Sendable, Hashable, Codable {
  public var setup: Int
  public var tasks: [[Int]]
  public init(setup: Int, tasks: [[Int]]) {
    self.setup = setup
    self.tasks = tasks
  }
  /// The templates it strings together, all tasks together.
  public var opCount: Int { tasks.reduce(0) { $0 + $1.count } }

}
