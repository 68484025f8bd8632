import Foundation

/// Reads plan files into typed, validated `Plan`s; every error is a `PlanError` that names
/// file:line:column, the key path, what was expected and what was found.
///
/// Plans/README.md is the format reference.
public struct PlanLoader: Sendable {
  /// The engines a plan may name.
  public let registry: EngineRegistry

  /// Makes a loader that resolves engine names, fault points and operations against `registry`.
  public init(registry: EngineRegistry) {
    self.registry = registry
  }

  /// Loads and validates one plan file.
  /// - Parameter path: The plan file.
  /// - Throws: `PlanError`, the first error found; a file that cannot be read is an error at path:1:1.
  public func load(file path: String) throws -> Plan {
    let start = SourceLocation(file: path, line: 1, column: 1)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw PlanError(start, key: "", expected: "a plan file", found: "no such file")
    }
    guard !isDirectory.boolValue else {
      throw PlanError(start, key: "", expected: "a plan file", found: "a directory")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw PlanError(
        start, key: "", expected: "a readable plan file", found: "a file that cannot be read")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw PlanError(start, key: "", expected: "UTF-8 text", found: "bytes that are not UTF-8")
    }
    return try parse(text, file: path)
  }

  /// Parses and validates `text` as if it came from `file`.
  /// - Parameters:
  ///   - text: YAML plan text.
  ///   - file: The name errors and `Plan.file` carry.
  /// - Throws: `PlanError`, the first error found.
  public func parse(_ text: String, file: String) throws -> Plan {
    let root = try PlanValue.parse(text, file: file)
    return try PlanReader.read(root, file: file, registry: registry)
  }

  /// Every `*.yaml` and `*.yml` file under `paths`, recursively, sorted by path without duplicates.
  /// A path naming a file is taken as it is, whatever its extension.
  /// - Throws: `PlanError` at path:1:1 for a path that is neither a file nor a directory.
  public static func planFiles(in paths: [String]) throws -> [String] {
    let fm = FileManager.default
    var found: Set<String> = []
    for path in paths {
      let start = SourceLocation(file: path, line: 1, column: 1)
      var isDirectory: ObjCBool = false
      guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlanError(
          start, key: "", expected: "a plan file or a directory of plans", found: "no such file")
      }
      guard isDirectory.boolValue else {
        found.insert(path)
        continue
      }
      var base = path
      while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
      guard let walker = fm.enumerator(atPath: base) else {
        throw PlanError(
          start, key: "", expected: "a readable directory", found: "a directory that cannot be read"
        )
      }
      for case let relative as String in walker {
        let name = relative.lowercased()
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
        let full = base == "/" ? "/" + relative : base + "/" + relative
        var entryIsDirectory: ObjCBool = false
        if fm.fileExists(atPath: full, isDirectory: &entryIsDirectory), !entryIsDirectory.boolValue {
          found.insert(full)
        }
      }
    }
    return found.sorted()
  }
}

/// One plan being read: the engine it names and the tasks read so far, which later sections
/// (faults, expectations) refer to.
private struct PlanReader {
  static let topKeys = [
    "plan", "engine", "about", "seed", "bugs", "setup", "tasks", "faults", "expect", "catches",
    "sweep",
    "schedule", "limits",
  ]
  static let faultKeys = [
    "at", "nth", "every", "after", "times", "probability", "seed", "task", "op", "mode", "fail",
    "short",
    "restart", "yield",
  ]
  static let triggerKeys = ["nth", "every", "after", "probability"]
  static let actionKeys = FaultActionKind.allCases.map(\.rawValue)

  let engine: EngineDescriptor
  let seed: UInt64
  var tasks: [PlanTask] = []

  static func read(_ root: PlanValue, file: String, registry: EngineRegistry) throws -> Plan {
    let top = try PlanMap(root, path: "", keys: topKeys)
    let nameValue = try top.require("plan", "the plan's name")
    let name = try nameValue.string("plan")
    guard !name.isEmpty else {
      throw PlanError(
        nameValue.location, key: "plan", expected: "the plan's name", found: "an empty string")
    }
    let engine = try readEngine(top, registry: registry)
    let about = try top.string("about").map(trimTrailingNewlines) ?? ""
    let seed = UInt64(try top.int("seed", min: 0) ?? 0)
    var reader = PlanReader(engine: engine, seed: seed)
    let bugs = try top.value("bugs").map { try reader.bugNames($0, path: "bugs") } ?? []
    let setup = top.value("setup")
    do {
      try engine.checkSetup(setup)
    } catch let error as PlanError {
      throw error
    } catch {
      throw PlanError(
        setup?.location ?? top.keyLocation("setup"), key: "setup",
        expected: "a setup \(engine.name) accepts",
        found: "\(error)")
    }
    try reader.readTasks(top)
    let faults = try top.value("faults").map { try reader.faults($0) } ?? []
    let expect = try top.value("expect").map { try reader.expectations($0) } ?? Expectations()
    let catches = try top.value("catches").map { try reader.catches($0) } ?? []
    let sweep = try top.value("sweep").map { try reader.sweep($0) }
    let schedule = try top.value("schedule").map { try reader.schedule($0) } ?? .fifo
    let limits = try top.value("limits").map { try reader.limits($0) } ?? Limits()
    return Plan(
      name: name, file: file, engine: engine.name, about: about, bugs: bugs, seed: seed,
      setup: setup,
      tasks: reader.tasks, faults: faults, expect: expect, catches: catches, sweep: sweep,
      schedule: schedule,
      limits: limits)
  }

  static func readEngine(_ top: PlanMap, registry: EngineRegistry) throws -> EngineDescriptor {
    let names = registry.names
    let value = try top.require("engine", "an engine name (\(listing(names)))")
    let name = try value.string("engine")
    guard let engine = registry.descriptor(named: name) else {
      throw PlanError(
        value.location, key: "engine",
        expected: names.isEmpty
          ? "a registered engine (none are registered)" : "one of the engines \(listing(names))",
        found: "'\(name)'", hint: DidYouMean.hint(name, among: names))
    }
    return engine
  }

  static func trimTrailingNewlines(_ s: String) -> String {
    var s = s
    while let last = s.last, last.isNewline { s.removeLast() }
    return s
  }

  /// `a, b, c`, cut after `limit` names.
  static func listing(_ names: [String], limit: Int = 16) -> String {
    names.count <= limit
      ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", …"
  }

  // MARK: Names

  /// A scalar, or each scalar of a list, with its value and key path.
  func items(_ value: PlanValue, path: String) throws -> [(
    name: String, value: PlanValue, path: String
  )] {
    switch value {
    case .scalar(let s, _): return [(s, value, path)]
    case .seq(let list, _):
      return try list.enumerated().map { i, item in
        let itemPath = "\(path)[\(i)]"
        return (try item.string(itemPath), item, itemPath)
      }
    default: throw PlanError(value.location, key: path, expected: "a list", found: value.found)
    }
  }

  /// A name that must be among `candidates`, else an error with a did-you-mean.
  func known(
    _ name: String, at value: PlanValue, path: String, among candidates: [String], what: String
  ) throws {
    guard !candidates.contains(name) else { return }
    throw unknown(name, at: value, path: path, among: candidates, what: what)
  }

  func unknown(
    _ name: String, at value: PlanValue, path: String, among candidates: [String], what: String
  )
    -> PlanError
  {
    PlanError(
      value.location, key: path,
      expected: candidates.isEmpty
        ? "\(what) (there are none)" : "\(what): one of \(Self.listing(candidates))",
      found: "'\(name)'", hint: DidYouMean.hint(name, among: candidates))
  }

  func opKind(_ name: String, at value: PlanValue, path: String) throws -> OpKind {
    let supported = engine.operations.map(\.rawValue)
    if let kind = OpKind(rawValue: name), engine.operations.contains(kind) { return kind }
    let found =
      OpKind(rawValue: name) == nil
      ? "'\(name)'" : "'\(name)', which \(engine.name) does not support"
    throw PlanError(
      value.location, key: path,
      expected: "an operation of \(engine.name): one of \(Self.listing(supported))",
      found: found,
      hint: OpKind(rawValue: name) == nil ? DidYouMean.hint(name, among: supported) : nil)
  }

  func taskName(_ value: PlanValue, path: String) throws -> String {
    let name = try value.string(path)
    try known(name, at: value, path: path, among: tasks.map(\.name), what: "a task of this plan")
    return name
  }

  func errno(_ value: PlanValue, path: String) throws -> Errno {
    let name = try value.string(path)
    guard let errno = Errno(name: name) else {
      let names = Errno.named.map(\.name)
      throw PlanError(
        value.location, key: path, expected: "an errno name (\(Self.listing(names)))",
        found: "'\(name)'",
        hint: DidYouMean.hint(name, among: names))
    }
    return errno
  }

  func invariant(_ value: PlanValue, path: String) throws -> InvariantName {
    let name = try value.string(path)
    try known(
      name, at: value, path: path, among: engine.invariants.map(\.rawValue),
      what: "an invariant \(engine.name) declares")
    return InvariantName(rawValue: name)
  }

  func bugNames(_ value: PlanValue, path: String) throws -> [String] {
    try items(value, path: path).map { name, item, itemPath in
      try bugName(name, at: item, path: itemPath)
      return name
    }
  }

  func bugName(_ name: String, at value: PlanValue, path: String) throws {
    try known(
      name, at: value, path: path, among: engine.bugs.map(\.name),
      what: "a bug switch of \(engine.name)")
  }

  /// The value of a key that is present, even if written with nothing after it.
  func given(_ m: PlanMap, _ key: String, _ expected: String) throws -> PlanValue {
    guard let value = m.value(key) else {
      throw PlanError(m.keyLocation(key), key: m.keyPath(key), expected: expected, found: "nothing")
    }
    return value
  }

  // MARK: Tasks

  mutating func readTasks(_ top: PlanMap) throws {
    let value = try top.require("tasks", "a list of tasks")
    let list = try value.list("tasks")
    guard !list.isEmpty else {
      throw PlanError(
        value.location, key: "tasks", expected: "at least one task", found: "an empty list")
    }
    var seen: [String: SourceLocation] = [:]
    for (i, item) in list.enumerated() {
      let path = "tasks[\(i)]"
      let m = try PlanMap(item, path: path, keys: ["name", "ops"])
      let nameValue = try m.require("name", "a task name")
      let name = try nameValue.string(m.keyPath("name"))
      guard !name.isEmpty, !name.contains("/") else {
        throw PlanError(
          nameValue.location, key: m.keyPath("name"), expected: "a non-empty task name without '/'",
          found: "'\(name)'")
      }
      if let first = seen[name] {
        throw PlanError(
          nameValue.location, key: m.keyPath("name"), expected: "task names used once",
          found: "a second task '\(name)' (first at \(first))")
      }
      seen[name] = nameValue.location
      let ops = try m.require("ops", "a list of operations").list(m.keyPath("ops"))
      tasks.append(
        PlanTask(
          name: name,
          ops: try ops.enumerated().map { try operation($1, path: m.keyPath("ops") + "[\($0)]") }))
    }
    guard tasks.contains(where: { !$0.ops.isEmpty }) else {
      throw PlanError(
        value.location, key: "tasks", expected: "at least one task with at least one operation",
        found: "no operations")
    }
  }

  func operation(_ value: PlanValue, path: String) throws -> Operation {
    guard case .map(let entries, _) = value, entries.count == 1, let entry = entries.first else {
      let found: String
      if case .map(let entries, _) = value {
        found =
          entries.isEmpty
          ? "an empty mapping" : "keys \(entries.map { "'\($0.key)'" }.joined(separator: ", "))"
      } else {
        found = value.found
      }
      throw PlanError(
        value.location, key: path,
        expected: "an operation: one key, its name (write: { path: /a, … })",
        found: found)
    }
    let kind = try opKind(entry.key, at: .scalar(entry.key, entry.keyLocation), path: path)
    let args = try PlanMap(
      entry.value, path: "\(path).\(kind.rawValue)", keys: kind.required + kind.optional)
    for key in kind.required where args.value(key) == nil {
      throw PlanError(
        args.has(key) ? args.keyLocation(key) : args.location, key: args.keyPath(key),
        expected:
          "'\(key)' (\(kind.rawValue) takes \((kind.required + kind.optional).joined(separator: ", ")))",
        found: args.has(key) ? "nothing" : "no '\(key)'")
    }
    let pathValue = try args.require("path", "an absolute path")
    let filePath = try pathValue.string(args.keyPath("path"))
    guard filePath.hasPrefix("/") else {
      throw PlanError(
        pathValue.location, key: args.keyPath("path"), expected: "an absolute path (/a)",
        found: "'\(filePath)'")
    }
    let pattern = try args.int("pattern", min: 0, max: 255).map { UInt8($0) }
    return Operation(
      kind, path: filePath, offset: try args.size("offset"), length: try args.size("length"),
      pattern: pattern,
      location: entry.keyLocation)
  }

  // MARK: Faults

  func faults(_ value: PlanValue) throws -> [FaultSpec] {
    try value.list("faults").enumerated().map { try fault($1, path: "faults[\($0)]") }
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
    }
    let task =
      try m.has("task") ? taskName(given(m, "task", "a task name"), path: m.keyPath("task")) : nil
    var op: String?
    if m.has("op") {
      let opValue = try given(m, "op", "an operation name")
      op = try opKind(opValue.string(m.keyPath("op")), at: opValue, path: m.keyPath("op")).rawValue
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
    case .yield:
      let value = try given(m, key, "true or a task name")
      if case .scalar("true", _) = value { return .yield(to: nil) }
      return .yield(to: try taskName(value, path: path))
    }
  }

  // MARK: Expectations

  func expectations(_ value: PlanValue) throws -> Expectations {
    let m = try PlanMap(value, path: "expect", keys: ["ops", "invariants"])
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
    return Expectations(ops: ops, invariants: invariants)
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

  func schedule(_ value: PlanValue) throws -> ScheduleSpec {
    let m = try PlanMap(value, path: "schedule", keys: ["policy", "seed", "choices"])
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
