/// One error-handling site of an engine's source (`ErrorHandlerInventory`): file, line, byte
/// column and what kind of handler it is. Its `id` is stable for a given source and sorts sites
/// by file and position.
public struct ErrorHandlerSite: Sendable, Codable, Hashable, Comparable {
  public enum Kind: String, Sendable, Codable, Hashable {
    case catchClause = "catch"
    case throwStatement = "throw"
    case failureReturn = "failure-return"
    case failBranch = "fail-branch"
    case errorBranch = "error-branch"
    case gotoStatement = "goto"
  }

  /// The file, relative to the package root (`Sources/BtrfsModel/BtrfsEngine.swift`).
  public let file: String
  public let line: Int
  public let column: Int
  public let kind: Kind
  /// What a comment over the site says of it (`ErrorPathMarker`): unreachable and why, or not
  /// an error path.
  public var marker: ErrorPathMarker?

  public init(file: String, line: Int, column: Int, kind: Kind, marker: ErrorPathMarker? = nil) {
    self.file = file
    self.line = line
    self.column = column
    self.kind = kind
    self.marker = marker
  }

  /// Marked unreachable for `engine`: the marker's reason.
  public func unreachableReason(for engine: String) -> String? {
    guard let m = marker, m.verdict == .unreachable, m.applies(to: engine) else { return nil }
    return m.reason
  }

  /// `file:line:column`: what reached sets are made of.
  public var id: String { "\(file):\(line):\(column)" }

  /// `file:line kind`, as reports list an unreached site.
  public var words: String { "\(file):\(line) \(kind.rawValue)" }

  public static func < (a: Self, b: Self) -> Bool {
    (a.file, a.line, a.column) < (b.file, b.line, b.column)
  }
}

/// An engine's error-handler coverage in a run: how many of the error-handling sites of its
/// source (`ErrorHandlerInventory`) the run's scenarios executed, per a coverage-instrumented
/// build's counters, and which it never reached: those the source marks unreachable for this
/// engine (`ErrorPathMarker`, with the reason) apart from the rest.
///
/// Checks: the execution count at each site's token, from the profiles of the worker processes
/// while they ran this engine's scenarios (the fault-free recordings and every placement).
/// Does not check: counts of a worker that was killed (a timed-out or crashed scenario, an
/// interrupted sweep) — what it ran since its last write is missing, so a site may be listed
/// unreached that such a scenario reached (`note` says when a run was interrupted); runs made
/// to shrink or picture a failure; engines with no inventory (the linux engine, plugins), which are
/// `measured == false` with the reason.
public struct EngineErrorCoverage: Sendable, Codable, Equatable {
  public let engine: String
  /// False: no numbers, `reason` says why (never 0 reached as if counted).
  public var measured: Bool
  public var reason: String?
  /// Sites in the engine's inventory.
  public var total: Int
  /// Sites executed at least once.
  public var reached: Int
  /// Sites never executed and not marked unreachable, sorted by file and position.
  public var unreached: [ErrorHandlerSite]
  /// Sites never executed that the source marks unreachable for this engine, each with its
  /// reason (nil in results written before markers existed).
  public var unreachable: [ErrorHandlerSite]?
  /// Sites marked unreachable for this engine that the run reached: the marker is wrong.
  public var refuted: [ErrorHandlerSite]?
  /// The reached sites' ids, sorted: what a merge of shards unites.
  public var reachedIDs: [String]
  /// What may make the numbers low (a resumed run, whose interrupted workers' counts are lost).
  public var note: String?

  /// Measured coverage of `inventory`: `reachedIDs` are the ids of the sites that ran.
  public init(engine: String, inventory: [ErrorHandlerSite], reachedIDs: Set<String>, note: String? = nil) {
    self.engine = engine
    measured = true
    reason = nil
    let ids = Set(inventory.map(\.id))
    total = ids.count
    let reachedHere = reachedIDs.intersection(ids)
    reached = reachedHere.count
    self.reachedIDs = reachedHere.sorted()
    let missed = inventory.filter { !reachedHere.contains($0.id) }.sorted()
    unreached = missed.filter { $0.unreachableReason(for: engine) == nil }
    unreachable = missed.filter { $0.unreachableReason(for: engine) != nil }
    refuted = inventory.filter { reachedHere.contains($0.id) && $0.unreachableReason(for: engine) != nil }.sorted()
    self.note = note
  }

  /// Not measured, for `reason`.
  public init(engine: String, notMeasured reason: String) {
    self.engine = engine
    measured = false
    self.reason = reason
    total = 0
    reached = 0
    unreached = []
    unreachable = nil
    refuted = nil
    reachedIDs = []
    note = nil
  }

  /// `error paths reached: N of M (P%)`, with how many of the rest the source marks
  /// unreachable; or why it was not measured.
  public var words: String {
    guard measured else { return "error paths not measured: \(reason ?? "no reason given")" }
    let percent = total == 0 ? 0 : Int((100 * Double(reached) / Double(total)).rounded(.down))
    let marked = unreachable?.count ?? 0
    return "error paths reached: \(reached) of \(total) (\(percent)%)"
      + (marked > 0 ? ", \(marked) marked unreachable" : "")
  }

  /// The unreached sites grouped by file, in order: `(file, ["12 throw", "40 catch"])`.
  public var unreachedByFile: [(file: String, sites: [String])] {
    var out: [(file: String, sites: [String])] = []
    for s in unreached {
      let w = "\(s.line) \(s.kind.rawValue)"
      if out.last?.file == s.file { out[out.count - 1].sites.append(w) } else { out.append((s.file, [w])) }
    }
    return out
  }

  /// The coverage of several runs of the same engine (shards, or a run and its resume): the union
  /// of what each reached, when they measured the same inventory; not measured otherwise.
  public static func merge(_ parts: [EngineErrorCoverage]) -> EngineErrorCoverage? {
    guard let head = parts.first else { return nil }
    if let bad = parts.first(where: { !$0.measured }) {
      return EngineErrorCoverage(engine: head.engine, notMeasured: bad.reason ?? "a run did not measure it")
    }
    func all(_ c: EngineErrorCoverage) -> Set<String> {
      Set(c.reachedIDs).union(c.unreached.map(\.id)).union((c.unreachable ?? []).map(\.id))
    }
    let inventory = all(head)
    for p in parts.dropFirst() where all(p) != inventory || p.total != head.total {
      return EngineErrorCoverage(
        engine: head.engine, notMeasured: "the runs merged measured different sources (builds differ)")
    }
    // The sites with something to list (unreached, marked, refuted), by id; reached ids need
    // no site (only their count and ids are kept).
    var sites: [String: ErrorHandlerSite] = [:]
    for p in parts { for s in p.unreached + (p.unreachable ?? []) + (p.refuted ?? []) { sites[s.id] = s } }
    let reached = parts.reduce(into: Set<String>()) { $0.formUnion($1.reachedIDs) }
    // The inventory again: unreached sites of some part, plus reached ids (kinds of those are
    // not needed: only unreached sites are listed).
    var merged = EngineErrorCoverage(
      engine: head.engine, inventory: sites.values.sorted(), reachedIDs: reached,
      note: parts.compactMap(\.note).first)
    merged.total = head.total
    merged.reached = reached.count
    merged.reachedIDs = reached.sorted()
    return merged
  }
}
