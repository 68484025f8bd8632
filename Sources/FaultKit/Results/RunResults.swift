import Foundation

/// The source of truth of a run (`results.json`): every scenario with its faults, schedule and
/// outcome; each distinct failure with the first scenario's violations, diff evidence, trace and
/// snapshots; fault-point coverage per plan and engine. Reports (JUnit, HTML, the terminal
/// summary) are made from this and nothing else.
///
/// No wall clock in it: the same plans, bugs and seed give the same bytes, whatever the order
/// scenarios finished in, the number of workers, the sharding (after a merge) or a resume. Wall
/// time goes to `timings.json` beside it.
public struct RunResults: Sendable, Codable {
  /// Bumped on any change a reader must know about; readers refuse another.
  public static let currentSchema = "faultline-results/1"
  public var schema: String
  /// `sweep` or `run`.
  public var command: String
  public var bugs: [String]
  public var shard: Shard
  /// False when a budget stopped the run before it was done, or a merge lacks shards.
  public var complete: Bool
  /// The shards a merge did not have (absent when it had every one).
  public var missingShards: [Shard]?
  public var engines: [EngineResults]
  public var plans: [PlanResults]
  /// The options that load the run's engines (`--engine-plugin /abs/x.so`, `--kernel /abs/linux`),
  /// absolute: what a command reproducing one of its failures must pass too. nil: none.
  public var engineOptions: [String]?
  /// What the engines' far sides had (a kernel's options) and what that left unavailable, as
  /// said before the run (`EngineFeatures`); absent for engines that are all here.
  public var features: [EngineFeatures]?
  /// Error-handler coverage per engine of the run's plans, sorted by engine (`sweep
  /// --error-coverage`); absent when it was not asked for.
  public var errorCoverage: [EngineErrorCoverage]?

  public init(
    command: String, bugs: [String], shard: Shard = .all, complete: Bool = true, plans: [PlanResults],
    catalogs: [String: [FaultPoint]]
  ) {
    schema = Self.currentSchema
    self.command = command
    self.bugs = bugs
    self.shard = shard
    self.complete = complete
    self.plans = plans
    engines = []
    cover(catalogs)
  }

  /// Fills every plan's and engine's coverage from `catalogs` (engine name → declared points).
  mutating func cover(_ catalogs: [String: [FaultPoint]]) {
    // A plan whose scenarios are streamed comes with its coverage counted.
    for i in plans.indices where plans[i].streamed == nil {
      plans[i].coverage = PointCoverage.of(plans[i], catalog: catalogs[plans[i].engine] ?? [])
    }
    var names: [String] = []
    for p in plans where !names.contains(p.engine) { names.append(p.engine) }
    engines = names.map { name in
      let rows = PointCoverage.sum(plans.filter { $0.engine == name }.map(\.coverage))
      return EngineResults(name: name, points: catalogs[name] ?? [], coverage: rows)
    }
  }

  public var scenarios: Int { plans.reduce(0) { $0 + $1.ran } }
  public var failed: Int { plans.reduce(0) { $0 + $1.failed } }
  /// Scenarios that found nothing but could not be judged (a sweep with one exits non-zero).
  public var unjudged: Int { plans.reduce(0) { $0 + $1.unjudged } }
  public var passed: Int { plans.reduce(0) { $0 + $1.passed } }
  public var distinctFailures: Int { plans.reduce(0) { $0 + $1.failures.count } }
  /// Distinct failures that are bugs (not expected behaviour), unjudged groups among them.
  public var unexpectedFailures: Int { plans.reduce(0) { $0 + $1.failures.filter { !$0.expected }.count } }

  /// Marks each failure whose violated invariants are all expected by its engine.
  public mutating func markExpected(_ expected: [String: Set<InvariantName>]) {
    for i in plans.indices {
      let set = expected[plans[i].engine] ?? []
      for k in plans[i].failures.indices {
        let g = plans[i].failures[k]
        plans[i].failures[k].expected =
          g.kind == .judged && !g.isUnjudged && !set.isEmpty
          && g.invariants.allSatisfy { set.contains(InvariantName(rawValue: $0)) }
      }
    }
  }

  // MARK: Reading and writing

  /// Sorted keys, no timings: the same results encode to the same bytes.
  public func encoded() throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var data = try enc.encode(self)
    data.append(0x0A)
    return data
  }

  /// Reads results.json; a file of another schema is refused with what was found.
  public static func read(_ url: URL) throws -> RunResults {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw ResultsError(message: "\(url.path): cannot read (\(IOFailure.reason(error)))")
    }
    struct Head: Decodable { let schema: String? }
    guard let head = try? JSONDecoder().decode(Head.self, from: data) else {
      throw ResultsError(message: "\(url.path): not a JSON object; expected Faultline results (\(currentSchema))")
    }
    guard head.schema == currentSchema else {
      throw ResultsError(
        message:
          "\(url.path): schema \(head.schema.map { "\"\($0)\"" } ?? "missing"), expected \"\(currentSchema)\" (re-run with this faultline)"
      )
    }
    do { return try JSONDecoder().decode(RunResults.self, from: data) } catch {
      throw ResultsError(message: "\(url.path): not valid \(currentSchema): \(error)")
    }
  }

  // MARK: Merging shards

  /// Joins runs of the same plans and bugs (shards, or a run and its resume) into the results one
  /// unsharded run gives: scenarios united by key in space order, failures regrouped with the
  /// earliest scenario as each signature's first, coverage recounted. The shards say how many
  /// there are: a merge without all of them is not complete and names the missing ones.
  public static func merge(_ runs: [RunResults]) throws -> RunResults {
    guard let head = runs.first else { throw ResultsError(message: "merge: no results") }
    let files = head.plans.map(\.file)
    for r in runs.dropFirst() where r.plans.map(\.file) != files || r.bugs != head.bugs || r.command != head.command {
      throw ResultsError(message: "merge: the runs have different plans, bugs or commands")
    }
    let count = head.shard.count
    if let other = runs.first(where: { $0.shard.count != count }) {
      throw ResultsError(
        message: "merge: the runs split the space differently (shard \(head.shard) and shard \(other.shard))")
    }
    // A shard is done when a run of it is complete (a budget-stopped run and its resume are two
    // runs of one shard).
    let done = Set(runs.filter(\.complete).map(\.shard.index))
    let missing = (0..<count).filter { i in !runs.contains { $0.shard.index == i } }.map {
      Shard(index: $0, count: count)
    }
    var plans: [PlanResults] = []
    for (i, first) in head.plans.enumerated() {
      var byKey: [String: ScenarioEntry] = [:]
      var groups: [String: FailureGroup] = [:]
      var prunedChildren = 0
      for r in runs {
        let p = r.plans[i]
        prunedChildren += p.prunedChildren
        for s in p.scenarios { byKey[s.key] = s }
        for g in p.failures {
          // Keep the evidence of the earliest first scenario of each signature.
          guard let have = groups[g.signature], let a = byKey[g.first], let b = byKey[have.first] else {
            if groups[g.signature] == nil { groups[g.signature] = g }
            continue
          }
          if ScenarioEntry.spaceOrder(a, b) { groups[g.signature] = g }
        }
      }
      let scenarios = byKey.values.sorted(by: ScenarioEntry.spaceOrder)
      var counts: [String: Int] = [:]
      var order: [String] = []
      for s in scenarios {
        guard let sig = s.signature else { continue }
        if counts[sig] == nil { order.append(sig) }
        counts[sig, default: 0] += 1
      }
      let failures = order.compactMap { sig -> FailureGroup? in
        guard var g = groups[sig] else { return nil }
        g.count = counts[sig]!
        g.repro = nil
        g.shrunk = nil
        return g
      }
      plans.append(
        PlanResults(
          plan: first.plan, file: first.file, engine: first.engine, bugs: first.bugs, depth: first.depth,
          space: first.space, pruned: first.pruned, prunedChildren: prunedChildren, reached: first.reached,
          scenarios: scenarios, failures: failures))
    }
    var catalogs: [String: [FaultPoint]] = [:]
    for r in runs { for e in r.engines { catalogs[e.name] = e.points } }
    var merged = RunResults(
      command: head.command, bugs: head.bugs, shard: .all, complete: done.count == count, plans: plans,
      catalogs: catalogs)
    if !missing.isEmpty { merged.missingShards = missing }
    merged.engineOptions = head.engineOptions
    // Each shard said what its kernels had: each once, in the order the shards name them.
    var features: [EngineFeatures] = []
    for r in runs { for f in r.features ?? [] where !features.contains(f) { features.append(f) } }
    merged.features = features.isEmpty ? nil : features
    merged.errorCoverage = mergedErrorCoverage(runs)
    return merged
  }

  /// The runs' error-handler coverage united per engine (`EngineErrorCoverage.merge`); an engine
  /// some run did not measure is not measured; nil when no run measured any.
  static func mergedErrorCoverage(_ runs: [RunResults]) -> [EngineErrorCoverage]? {
    guard runs.contains(where: { $0.errorCoverage != nil }) else { return nil }
    var engines: [String] = []
    for r in runs { for e in r.plans.map(\.engine) where !engines.contains(e) { engines.append(e) } }
    return engines.sorted().compactMap { engine in
      var parts: [EngineErrorCoverage] = []
      for r in runs {
        guard let c = r.errorCoverage?.first(where: { $0.engine == engine }) else {
          return EngineErrorCoverage(engine: engine, notMeasured: "a run merged did not measure error paths")
        }
        parts.append(c)
      }
      return EngineErrorCoverage.merge(parts)
    }
  }

  /// Why the run is not complete, in words (nil when it is).
  public var incompleteness: String? {
    guard !complete else { return nil }
    if let m = missingShards, !m.isEmpty {
      return
        "incomplete: the merge lacks shard\(m.count == 1 ? "" : "s") \(m.map(\.description).joined(separator: ", "))"
    }
    return "incomplete: the budget ran out before the run was done (--resume continues it)"
  }
}

/// An engine's declared points and its coverage summed over the run's plans.
public struct EngineResults: Sendable, Codable {
  public let name: String
  public let points: [FaultPoint]
  public let coverage: [PointCoverage]
  /// Declared points no scenario of the run reached: a path no plan exercises. A point the
  /// fault-free runs never hit but a scenario fired at (reached only after an earlier fault, as
  /// depth 2 does) is reached.
  public let unreached: [String]
  public init(name: String, points: [FaultPoint], coverage: [PointCoverage]) {
    self.name = name
    self.points = points
    self.coverage = coverage
    unreached = coverage.filter { $0.reached == 0 && $0.fired == 0 }.map(\.point)
  }
}

/// Results that cannot be read or merged.
public struct ResultsError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}
