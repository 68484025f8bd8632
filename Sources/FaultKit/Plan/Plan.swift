/// A fault plan: setup, tasks with operations, faults, expectations, known bugs it catches.
public struct Plan: Sendable, Hashable {
  public var name: String
  public var file: String
  /// Where the `plan:` name was written, for errors about the name (nil for plans made in code).
  public var nameLocation: SourceLocation?
  public var engine: String
  public var about: String
  /// Historical-bug switches the plan itself turns on (usually none; `catches` and `--bug` do).
  public var bugs: [String]
  public var seed: UInt64
  /// The engine-specific `setup:` section, parsed by the engine.
  public var setup: PlanValue?
  public var tasks: [PlanTask]
  public var faults: [FaultSpec]
  public var expect: Expectations
  /// Bug switch → invariants that must be among the violations when it is on, in plan order.
  public var catches: [Catch]
  public var sweep: SweepSettings?
  public var schedule: ScheduleSpec
  /// Pinned preemptions (`schedule.preempt`): yields at given hits, kept apart from the faults
  /// because they are the schedule, not failures; sweeps that place their own faults keep them.
  public var preemptions: [FaultSpec]
  public var limits: Limits

  public init(
    name: String, file: String = "<memory>", engine: String, about: String = "", bugs: [String] = [],
    seed: UInt64 = 0, setup: PlanValue? = nil, tasks: [PlanTask], faults: [FaultSpec] = [],
    expect: Expectations = Expectations(), catches: [Catch] = [], sweep: SweepSettings? = nil,
    schedule: ScheduleSpec = .fifo, preemptions: [FaultSpec] = [], limits: Limits = Limits(),
    nameLocation: SourceLocation? = nil
  ) {
    self.name = name
    self.nameLocation = nameLocation
    self.file = file
    self.engine = engine
    self.about = about
    self.bugs = bugs
    self.seed = seed
    self.setup = setup
    self.tasks = tasks
    self.faults = faults
    self.expect = expect
    self.catches = catches
    self.sweep = sweep
    self.schedule = schedule
    self.preemptions = preemptions
    self.limits = limits
  }
}

public struct PlanTask: Sendable, Hashable {
  public var name: String
  public var ops: [Operation]
  public init(name: String, ops: [Operation]) {
    self.name = name
    self.ops = ops
  }
}

/// What a plan expects of its operations and which invariants it judges.
public struct Expectations: Sendable, Hashable {
  public var ops: [OpExpectation]
  /// nil: every invariant the engine declares.
  public var invariants: [InvariantName]?
  /// `expect: { faults: fired }` (nil: the default, fired): every fault the plan places must fire
  /// at least once, or the run fails saying which never did and how often its point was reached.
  /// `any` allows a fault that is never reached.
  public var faultsMustFire: Bool?
  public init(ops: [OpExpectation] = [], invariants: [InvariantName]? = nil, faultsMustFire: Bool? = nil) {
    self.ops = ops
    self.invariants = invariants
    self.faultsMustFire = faultsMustFire
  }

  /// The expected outcome of op `index` (0-based) of `task`: the most specific selector wins;
  /// an op nothing mentions is expected to succeed.
  public func outcome(task: String, index: Int, kind: OpKind) -> ExpectedOutcome {
    var best: (Int, ExpectedOutcome)?
    for e in ops {
      let rank: Int? =
        switch e.selector {
        case .index(let t, let i) where t == task && i == index: 3
        case .taskKind(let t, let k) where t == task && k == kind: 2
        case .kind(let k) where k == kind: 1
        default: nil
        }
      if let rank, best == nil || rank > best!.0 { best = (rank, e.outcome) }
    }
    return best?.1 ?? .ok
  }
}

public struct OpExpectation: Sendable, Hashable {
  public enum Selector: Sendable, Hashable, CustomStringConvertible {
    case kind(OpKind)
    case taskKind(String, OpKind)
    /// Task and 0-based op index (plans write it 1-based: `writer/2`).
    case index(String, Int)
    public var description: String {
      switch self {
      case .kind(let k): k.rawValue
      case .taskKind(let t, let k): "\(t)/\(k.rawValue)"
      case .index(let t, let i): "\(t)/\(i + 1)"
      }
    }
  }
  public var selector: Selector
  public var outcome: ExpectedOutcome
  public init(_ selector: Selector, _ outcome: ExpectedOutcome) {
    self.selector = selector
    self.outcome = outcome
  }
}

/// An expected operation outcome.
public enum ExpectedOutcome: Sendable, Hashable, CustomStringConvertible {
  case ok
  /// An error from this set; empty means any error.
  case error([Errno])
  /// Success or any error (not a hang).
  case any

  public func admits(_ o: OpOutcome) -> Bool {
    switch (self, o.status) {
    case (.ok, .ok), (.any, .ok), (.any, .error): return true
    case (.error(let set), .error): return set.isEmpty || set.contains(o.errno!)
    default: return false
    }
  }

  public var description: String {
    switch self {
    case .ok: "ok"
    case .any: "ok or any error"
    case .error(let s) where s.isEmpty: "an error"
    case .error(let s): "error " + s.map(\.name).joined(separator: " or ")
    }
  }
}

public struct Catch: Sendable, Hashable {
  public var bug: String
  public var invariants: [InvariantName]
  public init(bug: String, invariants: [InvariantName]) {
    self.bug = bug
    self.invariants = invariants
  }
}

/// The `sweep:` section: what a sweep of this plan explores (used by `faultline sweep`).
public struct SweepSettings: Sendable, Hashable {
  public var points: [String]
  public var depth: Int
  public var actions: [FaultActionKind]?
  public init(points: [String] = ["*"], depth: Int = 1, actions: [FaultActionKind]? = nil) {
    self.points = points
    self.depth = depth
    self.actions = actions
  }
}

/// The schedule a plan pins.
public enum ScheduleSpec: Sendable, Hashable, CustomStringConvertible {
  /// Run each task until it blocks or ends; then the one runnable longest.
  case fifo
  /// At each schedule point, a seeded uniform choice among runnable tasks.
  case random(seed: UInt64)
  /// Follow recorded choices (task names at each point with a choice), then fifo.
  case replay([String])

  public var description: String {
    switch self {
    case .fifo: "fifo"
    case .random(let s): "random(seed: \(s))"
    case .replay(let c): "replay(\(c.count) choices)"
    }
  }
}

public struct Limits: Sendable, Hashable {
  /// Schedule points a scenario may pass before it is stopped as unbounded.
  public var steps: Int
  public init(steps: Int = 100_000) { self.steps = steps }
}
