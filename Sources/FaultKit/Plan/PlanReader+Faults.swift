import Foundation

/// Reading `faults:`: point, trigger, context filters, mode, action, each checked against the catalog.
extension PlanReader {
  // MARK: Faults

  func faults(_ value: PlanValue) throws -> [FaultSpec] {
    // Each fault on its own: one with an error is said and the next still read.
    try value.list("faults").enumerated().compactMap { i, item in
      try log.attempt { try fault(item, path: "faults[\(i)]") }
    }
  }

  func fault(_ value: PlanValue, path: String) throws -> FaultSpec {
    let m = try PlanMap(value, path: path, keys: Self.faultKeys)
    let atValue = try m.require("at", "a fault point name")
    let at = try atValue.string(m.keyPath("at"))
    guard let point = engine.catalog.points.first(where: { $0.name == at }) else {
      throw unknown(
        at, at: atValue, path: m.keyPath("at"), among: engine.catalog.points.map(\.name),
        what: "a fault point of \(engine.name)")
    }
    let trigger = try self.trigger(m)
    var mode = FaultMode.transient
    if m.has("mode") {
      let modeValue = try given(m, "mode", "transient or persistent")
      let raw = try modeValue.string(m.keyPath("mode"))
      guard let parsed = FaultMode(rawValue: raw) else {
        throw PlanError(
          modeValue.location, key: m.keyPath("mode"), expected: "transient or persistent",
          found: "'\(raw)'",
          hint: DidYouMean.hint(raw, among: ["transient", "persistent"]))
      }
      mode = parsed
      guard point.modes.contains(mode) else {
        throw PlanError(
          modeValue.location, key: m.keyPath("mode"),
          expected: "a mode \(point.name) supports: \(point.modes.map(\.rawValue).joined(separator: ", "))",
          found: "'\(raw)'")
      }
    }
    let task =
      try m.has("task") ? taskName(given(m, "task", "a task name"), path: m.keyPath("task")) : nil
    var op: String?
    if m.has("op") {
      let opValue = try given(m, "op", "an operation name")
      op = try opFilter(opValue, path: m.keyPath("op"))
    }
    let action = try self.action(m, point: point)
    return FaultSpec(
      point: point.name, trigger: trigger, mode: mode, action: action, task: task, op: op)
  }

  func trigger(_ m: PlanMap) throws -> Trigger {
    let present = m.keys.filter { Self.triggerKeys.contains($0) }
    guard let key = present.first else {
      throw PlanError(
        m.location, key: m.path, expected: "a trigger: one of nth, every, after, probability",
        found: "none")
    }
    guard present.count == 1 else {
      throw PlanError(
        m.keyLocation(present[1]), key: m.keyPath(present[1]),
        expected: "exactly one trigger (nth, every, after or probability)",
        found: "both '\(present[0])' and '\(present[1])'")
    }
    for (extra, owner) in [("times", "after"), ("seed", "probability")]
    where m.has(extra) && key != owner {
      throw PlanError(
        m.keyLocation(extra), key: m.keyPath(extra), expected: "'\(extra)' only with '\(owner)'",
        found: "'\(extra)' with '\(key)'")
    }
    switch key {
    case "nth":
      return .nth(try given(m, key, "an integer ≥ 1").int(m.keyPath(key), min: 1))
    case "every":
      return .every(try given(m, key, "an integer ≥ 1").int(m.keyPath(key), min: 1))
    case "after":
      let skip = try given(m, key, "an integer ≥ 0").int(m.keyPath(key), min: 0)
      let times =
        try m.has("times")
        ? given(m, "times", "an integer ≥ 1").int(m.keyPath("times"), min: 1) : nil
      return .after(skip: skip, times: times)
    default:
      let value = try given(m, key, "a probability in 0...1")
      let raw = try value.string(m.keyPath(key))
      guard let p = Double(raw), p >= 0, p <= 1 else {
        throw PlanError(
          value.location, key: m.keyPath(key), expected: "a probability in 0...1", found: "'\(raw)'"
        )
      }
      let seed =
        try m.has("seed")
        ? UInt64(given(m, "seed", "an integer ≥ 0").int(m.keyPath("seed"), min: 0)) : self.seed
      return .probability(p, seed: seed)
    }
  }

  func action(_ m: PlanMap, point: FaultPoint) throws -> FaultAction {
    let present = m.keys.filter { Self.actionKeys.contains($0) }
    guard let key = present.first, let kind = FaultActionKind(rawValue: key) else {
      throw PlanError(
        m.location, key: m.path,
        expected: "an action: one of \(point.actions.map(\.rawValue).joined(separator: ", "))",
        found: "none")
    }
    guard present.count == 1 else {
      throw PlanError(
        m.keyLocation(present[1]), key: m.keyPath(present[1]), expected: "exactly one action",
        found: "both '\(present[0])' and '\(present[1])'")
    }
    let path = m.keyPath(key)
    guard point.actions.contains(kind) else {
      throw PlanError(
        m.keyLocation(key), key: path,
        expected:
          "an action \(point.name) supports: one of \(point.actions.map(\.rawValue).joined(separator: ", "))",
        found: "'\(key)'")
    }
    switch kind {
    case .fail:
      let value = try given(m, key, "an errno name")
      let errno = try self.errno(value, path: path)
      guard point.errnos.contains(errno) else {
        throw PlanError(
          value.location, key: path,
          expected: point.errnos.isEmpty
            ? "an errno \(point.name) can return (it declares none)"
            : "one of \(point.errnos.map(\.name).joined(separator: ", "))",
          found: "\(errno.name), which \(point.name) cannot return")
      }
      return .fail(errno)
    case .short:
      let value = try given(m, key, "true or a size")
      if case .scalar("true", _) = value { return .short(maxBytes: nil) }
      guard case .scalar(let raw, _) = value, let bytes = PlanValue.parseSize(raw), bytes > 0 else {
        throw PlanError(
          value.location, key: path, expected: "true (half) or a size ≥ 1 (4096, 4KiB)",
          found: value.found)
      }
      return .short(maxBytes: bytes)
    case .restart:
      let value = try given(m, key, "true")
      guard case .scalar("true", _) = value else {
        throw PlanError(value.location, key: path, expected: "true", found: value.found)
      }
      return .restart
    case .crash:
      let value = try given(m, key, "true")
      guard case .scalar("true", _) = value else {
        throw PlanError(value.location, key: path, expected: "true", found: value.found)
      }
      return .crash
    case .yield:
      let value = try given(m, key, "true or a task name")
      if case .scalar("true", _) = value { return .yield(to: nil) }
      return .yield(to: try taskName(value, path: path))
    }
  }
}
