import Foundation

/// One plan being read: the engine it names and the tasks read so far, which later sections
/// (faults, expectations) refer to.
struct PlanReader {
  static let topKeys = [
    "plan", "engine", "about", "seed", "bugs", "setup", "tasks", "faults", "expect", "catches",
    "sweep",
    "schedule", "limits",
  ]
  static let faultKeys =
    [
      "at", "nth", "every", "after", "times", "probability", "seed", "task", "op", "mode",
    ] + FaultActionKind.allCases.map(\.rawValue)
  static let triggerKeys = ["nth", "every", "after", "probability"]
  static let actionKeys = FaultActionKind.allCases.map(\.rawValue)

  let engine: EngineDescriptor
  let seed: UInt64
  /// Where errors go so reading goes on past them (each task, operation and fault on its own).
  var log = PlanErrorLog()
  /// The largest file the setup's device holds, when the engine says.
  var maxFileSize: UInt64? = nil
  var tasks: [PlanTask] = []

  static func read(_ root: PlanValue, file: String, registry: EngineRegistry) throws -> Plan {
    let log = PlanErrorLog()
    // Unknown top-level keys, each said; the rest is read as if they were not there.
    var keys = topKeys
    if case .map(let entries, _) = root {
      for e in entries where !keys.contains(e.key) {
        log.add(
          PlanError(
            e.keyLocation, key: e.key, expected: "one of \(topKeys.joined(separator: ", "))",
            found: "unknown key '\(e.key)'", hint: DidYouMean.hint(e.key, among: topKeys)))
        keys.append(e.key)
      }
    }
    let top = try PlanMap(root, path: "", keys: keys)
    let (name, nameLocation) =
      try log.attempt { () throws -> (String, SourceLocation) in
        let nameValue = try top.require("plan", "the plan's name")
        let name = try nameValue.string("plan")
        guard !name.isEmpty else {
          throw PlanError(
            nameValue.location, key: "plan", expected: "the plan's name", found: "an empty string")
        }
        try checkNameLength(name, at: nameValue, path: "plan")
        return (name, nameValue.location)
      } ?? ("", top.keyLocation("plan"))
    // Everything after depends on the engine: without one, what was found so far is all.
    guard let engine = try log.attempt({ try readEngine(top, registry: registry) }) else {
      try log.check()
      preconditionFailure("an engine error was logged")
    }
    let about = try log.attemptOptional { try top.string("about").map(trimTrailingNewlines) }
    let seed = UInt64(try log.attemptOptional { try top.int("seed", min: 0) } ?? 0)
    var reader = PlanReader(engine: engine, seed: seed, log: log)
    let bugs = try log.attemptOptional { try top.value("bugs").map { try reader.bugNames($0, path: "bugs") } } ?? []
    let setup = top.value("setup")
    let setupOK: Void? = try log.attempt {
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
    }
    if setupOK != nil { reader.maxFileSize = engine.maxFileSize(setup) }
    let before = log.errors.count
    _ = try log.attempt { try reader.readTasks(top) }
    // Every operation read (none dropped for an error): which paths nothing creates can be said.
    let tasksWhole = log.errors.count == before
    let faults = try log.attemptOptional { try top.value("faults").map { try reader.faults($0) } } ?? []
    let expect =
      try log.attemptOptional { try top.value("expect").map { try reader.expectations($0) } } ?? Expectations()
    let catches = try log.attemptOptional { try top.value("catches").map { try reader.catches($0) } } ?? []
    let sweep = try log.attemptOptional { try top.value("sweep").map { try reader.sweep($0) } }
    let schedule = try log.attemptOptional { try top.value("schedule").map { try reader.schedule($0) } } ?? .fifo
    let preemptions =
      try log.attemptOptional { try top.value("schedule").map { try reader.preemptions($0) } } ?? []
    let limits = try log.attemptOptional { try top.value("limits").map { try reader.limits($0) } } ?? Limits()
    if tasksWhole {
      for e in reader.uncreatedPaths(reader.tasks, setupPaths: engine.setupPaths(setup), expect: expect) { log.add(e) }
    }
    try log.check()
    return Plan(
      name: name, file: file, engine: engine.name, about: about ?? "", bugs: bugs, seed: seed,
      setup: setup,
      tasks: reader.tasks, faults: faults, expect: expect, catches: catches, sweep: sweep,
      schedule: schedule, preemptions: preemptions,
      limits: limits, nameLocation: nameLocation)
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
        found: "'\(name)'", hint: engineHint(name, among: names))
    }
    return engine
  }

  /// A near-miss engine name, or for a filesystem's bare name (`ext4`) both engines that run it:
  /// the model (`ext4-model`) and the real kernel (`linux` with `setup: { fs: ext4 }`).
  static func engineHint(_ name: String, among names: [String]) -> String? {
    let lower = name.lowercased()
    let models = names.filter { $0.hasPrefix(lower + "-") }
    let kernel = ["ext4", "xfs", "btrfs"].contains(lower) && names.contains("linux")
    if !models.isEmpty || kernel {
      var ways = models.map { "'\($0)' (the model)" }
      if kernel { ways.append("'linux' with setup: { fs: \(lower) } (the real kernel)") }
      return "did you mean " + ways.joined(separator: " or ") + "?"
    }
    return DidYouMean.hint(name, among: names)
  }

  /// Names become parts of file names (repro plans) and of every report line.
  static func checkNameLength(_ name: String, at value: PlanValue, path: String) throws {
    guard name.utf8.count <= PlanLimits.nameBytes else {
      throw PlanError(
        value.location, key: path, expected: "a name of at most \(PlanLimits.nameBytes) bytes",
        found: "one of \(name.utf8.count)")
    }
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

  /// A task of the plan or a worker of the engine (what fault filters, yields and preemptions name).
  func taskName(_ value: PlanValue, path: String) throws -> String {
    let name = try value.string(path)
    try known(
      name, at: value, path: path, among: tasks.map(\.name) + engine.workers.map(\.name),
      what: "a task of this plan or a worker of \(engine.name)")
    return name
  }

  /// An operation name for a fault's `op:` filter: a plan operation or a worker's work item.
  func opFilter(_ value: PlanValue, path: String) throws -> String {
    let name = try value.string(path)
    let workerOps = engine.workers.flatMap(\.ops)
    if workerOps.contains(name) { return name }
    if let kind = OpKind(rawValue: name), engine.operations.contains(kind) { return name }
    let all = engine.operations.map(\.rawValue) + workerOps
    throw PlanError(
      value.location, key: path,
      expected: "an operation of \(engine.name) or a work item of its workers: one of \(Self.listing(all))",
      found: "'\(name)'", hint: DidYouMean.hint(name, among: all))
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
      // A task with a bad name is skipped; its operations are still read, for their errors.
      guard let m = try log.attempt({ try PlanMap(item, path: path, keys: ["name", "ops"]) }) else { continue }
      let name = try log.attempt { () throws -> String in
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
        try Self.checkNameLength(name, at: nameValue, path: m.keyPath("name"))
        seen[name] = nameValue.location
        return name
      }
      let ops = try log.attempt { try m.require("ops", "a list of operations").list(m.keyPath("ops")) } ?? []
      var read: [Operation] = []
      for (k, op) in ops.enumerated() {
        if let o = try log.attempt({ try operation(op, path: m.keyPath("ops") + "[\(k)]") }) { read.append(o) }
      }
      if let name { tasks.append(PlanTask(name: name, ops: read)) }
    }
    // Operations dropped for their errors: the check below would only repeat them.
    if !log.errors.isEmpty { return }
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
    if kind == .control,
      !Operation.controlPrefixes.contains(where: { filePath.hasPrefix($0) }) || filePath.contains("/../")
    {
      throw PlanError(
        pathValue.location, key: args.keyPath("path"),
        expected:
          "a kernel control file under \(Operation.controlPrefixes.joined(separator: " or ")) (e.g. /sys/kernel/debug/…)",
        found: "'\(filePath)'")
    }
    let pattern = try args.int("pattern", min: 0, max: 255).map { UInt8($0) }
    let mode = try args.string("mode")
    if let mode, let m = args.value("mode") {
      for flag in mode.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
      where !Operation.fallocateModes.contains(flag) {
        throw PlanError(
          m.location, key: args.keyPath("mode"),
          expected: "a comma list of \(Operation.fallocateModes.joined(separator: ", "))", found: "'\(flag)'",
          hint: DidYouMean.hint(flag, among: Operation.fallocateModes))
      }
    }
    let op = Operation(
      kind, path: filePath, offset: try args.size("offset"), length: try args.size("length"),
      pattern: pattern, size: try args.size("size"), target: try args.string("target"), name: try args.string("name"),
      value: try args.string("value"), mode: mode, location: entry.keyLocation)
    // A range no file can have: an error here, where it is written, not a trap in an engine.
    if let r = OperationRange.refusal(op, maxFileSize: maxFileSize) {
      throw PlanError(
        args.value(r.key)?.location ?? entry.keyLocation, key: args.keyPath(r.key), expected: r.expected,
        found: r.found)
    }
    return op
  }
}
