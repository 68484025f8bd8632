import Foundation

/// Reading `expect:`, `catches:`, `sweep:`, `schedule:` and `limits:`.
extension PlanReader {
  // MARK: Expectations

  func expectations(_ value: PlanValue) throws -> Expectations {
    let m = try PlanMap(value, path: "expect", keys: ["ops", "invariants", "faults"])
    var ops: [OpExpectation] = []
    if let opsValue = m.value("ops") {
      guard case .map(let entries, _) = opsValue else {
        throw PlanError(
          opsValue.location, key: "expect.ops",
          expected: "a mapping of selectors (OP, TASK/OP, TASK/N) to outcomes",
          found: opsValue.found)
      }
      var seen: [OpExpectation.Selector: String] = [:]
      for entry in entries {
        let path = "expect.ops.\(entry.key)"
        let selector = try self.selector(entry.key, at: entry.keyLocation, path: path)
        if let first = seen[selector] {
          throw PlanError(
            entry.keyLocation, key: path, expected: "each op selected once",
            found: "'\(entry.key)', the same ops as '\(first)'")
        }
        seen[selector] = entry.key
        ops.append(OpExpectation(selector, try outcome(entry.value, path: path)))
      }
    }
    var invariants: [InvariantName]?
    if let invValue = m.value("invariants") {
      if case .scalar("all", _) = invValue {
        invariants = nil
      } else {
        invariants = try items(invValue, path: "expect.invariants").map {
          try invariant($0.value, path: $0.path)
        }
      }
    }
    var mustFire: Bool?
    if let f = m.value("faults") {
      switch f {
      case .scalar("fired", _): mustFire = true
      case .scalar("any", _): mustFire = false
      default:
        throw PlanError(
          f.location, key: "expect.faults",
          expected: "fired (every fault of the plan must fire: the default) or any (a fault may never be reached)",
          found: f.found)
      }
    }
    return Expectations(ops: ops, invariants: invariants, faultsMustFire: mustFire)
  }

  func selector(_ key: String, at location: SourceLocation, path: String) throws
    -> OpExpectation.Selector
  {
    let keyValue = PlanValue.scalar(key, location)
    guard let slash = key.lastIndex(of: "/") else {
      return .kind(try opKind(key, at: keyValue, path: path))
    }
    let name = String(key[..<slash])
    let rest = String(key[key.index(after: slash)...])
    guard let task = tasks.first(where: { $0.name == name }) else {
      let names = tasks.map(\.name)
      throw PlanError(
        location, key: path,
        expected: "TASK/OP or TASK/N naming a task of this plan (\(Self.listing(names)))",
        found: "task '\(name)'", hint: DidYouMean.hint(name, among: names))
    }
    if let n = Int(rest) {
      guard n >= 1 && n <= task.ops.count else {
        throw PlanError(
          location, key: path,
          expected: "an op number in 1...\(task.ops.count) (task \(name) has \(task.ops.count))",
          found: "\(n)")
      }
      return .index(name, n - 1)
    }
    return .taskKind(name, try opKind(rest, at: keyValue, path: path))
  }

  func outcome(_ value: PlanValue, path: String) throws -> ExpectedOutcome {
    let expected = "ok, any, or { error: ERRNO | [ERRNO, …] | any }"
    switch value {
    case .scalar("ok", _): return .ok
    case .scalar("any", _): return .any
    case .map:
      let m = try PlanMap(value, path: path, keys: ["error"])
      let errorValue = try m.require("error", "any, an errno name or a list of errno names")
      if case .scalar("any", _) = errorValue { return .error([]) }
      let list = try items(errorValue, path: m.keyPath("error"))
      guard !list.isEmpty else {
        throw PlanError(
          errorValue.location, key: m.keyPath("error"),
          expected: "at least one errno name (or any)",
          found: "an empty list")
      }
      var errnos: [Errno] = []
      for item in list {
        let errno = try self.errno(item.value, path: item.path)
        if !errnos.contains(errno) { errnos.append(errno) }
      }
      return .error(errnos)
    case .scalar(let s, _):
      throw PlanError(
        value.location, key: path, expected: expected, found: value.found,
        hint: DidYouMean.hint(s, among: ["ok", "any"]))
    default:
      throw PlanError(value.location, key: path, expected: expected, found: value.found)
    }
  }

  // MARK: Catches, sweep, schedule, limits

  func catches(_ value: PlanValue) throws -> [Catch] {
    guard case .map(let entries, _) = value else {
      throw PlanError(
        value.location, key: "catches", expected: "a mapping of bug switches to invariant lists",
        found: value.found)
    }
    return try entries.map { entry in
      let path = "catches.\(entry.key)"
      try bugName(entry.key, at: .scalar(entry.key, entry.keyLocation), path: path)
      let list = try items(entry.value, path: path)
      guard !list.isEmpty else {
        throw PlanError(
          entry.value.location, key: path, expected: "the invariants this bug must violate",
          found: entry.value.found == "a list" ? "an empty list" : entry.value.found)
      }
      return Catch(
        bug: entry.key, invariants: try list.map { try invariant($0.value, path: $0.path) })
    }
  }

  func sweep(_ value: PlanValue) throws -> SweepSettings {
    let m = try PlanMap(value, path: "sweep", keys: ["points", "depth", "actions"])
    var points = ["*"]
    if let pointsValue = m.value("points") {
      let list = try items(pointsValue, path: "sweep.points")
      guard !list.isEmpty else {
        throw PlanError(
          pointsValue.location, key: "sweep.points", expected: "at least one fault-point glob",
          found: "an empty list")
      }
      for item in list where engine.catalog.matching(item.name).isEmpty {
        let names = engine.catalog.points.map(\.name)
        throw PlanError(
          item.value.location, key: item.path,
          expected: "a glob matching a fault point of \(engine.name) (\(Self.listing(names)))",
          found: "'\(item.name)', which matches none",
          hint: DidYouMean.hint(item.name, among: names))
      }
      points = list.map(\.name)
    }
    let depth = try m.int("depth", min: 1, max: 2) ?? 1
    let actions = try m.value("actions").map { actionsValue in
      try items(actionsValue, path: "sweep.actions").map { item in
        guard let kind = FaultActionKind(rawValue: item.name) else {
          throw PlanError(
            item.value.location, key: item.path,
            expected: "one of \(Self.actionKeys.joined(separator: ", "))",
            found: "'\(item.name)'", hint: DidYouMean.hint(item.name, among: Self.actionKeys))
        }
        return kind
      }
    }
    return SweepSettings(points: points, depth: depth, actions: actions)
  }

  /// `schedule.preempt`: `[ { at: POINT, nth: N, to: TASK, task: TASK? } ]`, "switch to TASK at
  /// the Nth hit of POINT (by `task`)", compiled to yield faults.
  func preemptions(_ value: PlanValue) throws -> [FaultSpec] {
    let m = try PlanMap(value, path: "schedule", keys: ["policy", "seed", "choices", "preempt"])
    guard let list = m.value("preempt") else { return [] }
    return try list.list("schedule.preempt").enumerated().map { i, item in
      let path = "schedule.preempt[\(i)]"
      let pm = try PlanMap(item, path: path, keys: ["at", "nth", "to", "task"])
      let atValue = try pm.require("at", "a fault point name")
      let at = try atValue.string(pm.keyPath("at"))
      guard let point = engine.catalog.points.first(where: { $0.name == at }) else {
        throw unknown(
          at, at: atValue, path: pm.keyPath("at"), among: engine.catalog.points.map(\.name),
          what: "a fault point of \(engine.name)")
      }
      guard point.actions.contains(.yield) else {
        throw PlanError(
          atValue.location, key: pm.keyPath("at"), expected: "a point that supports yield",
          found: "\(at), whose actions are \(point.actions.map(\.rawValue).joined(separator: ", "))")
      }
      let to = try taskName(try pm.require("to", "the task to switch to"), path: pm.keyPath("to"))
      let by = try pm.value("task").map { try taskName($0, path: pm.keyPath("task")) }
      let nth = try pm.int("nth", min: 1) ?? 1
      return FaultSpec(point: at, trigger: .nth(nth), action: .yield(to: to), task: by)
    }
  }

  func schedule(_ value: PlanValue) throws -> ScheduleSpec {
    let m = try PlanMap(value, path: "schedule", keys: ["policy", "seed", "choices", "preempt"])
    let policies = ["fifo", "random", "replay"]
    var policy = "fifo"
    if let policyValue = m.value("policy") {
      policy = try policyValue.string("schedule.policy")
      try known(
        policy, at: policyValue, path: "schedule.policy", among: policies, what: "a schedule policy"
      )
    }
    for (extra, owner) in [("seed", "random"), ("choices", "replay")]
    where m.has(extra) && policy != owner {
      throw PlanError(
        m.keyLocation(extra), key: m.keyPath(extra),
        expected: "'\(extra)' only with policy \(owner)",
        found: "policy \(policy)")
    }
    switch policy {
    case "random":
      return .random(seed: try m.int("seed", min: 0).map(UInt64.init) ?? seed)
    case "replay":
      return .replay(
        try m.value("choices").map { try items($0, path: "schedule.choices").map(\.name) } ?? [])
    default:
      return .fifo
    }
  }

  func limits(_ value: PlanValue) throws -> Limits {
    let m = try PlanMap(value, path: "limits", keys: ["steps"])
    return Limits(steps: try m.int("steps", min: 1) ?? Limits().steps)
  }
}
