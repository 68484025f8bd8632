/// One fault a sweep places: an action at the nth hit of a point, transient or persistent.
public struct Placement: Hashable, Sendable, Codable, CustomStringConvertible {
  public let point: String
  /// The hit number, counted over all hits of the point (no task or operation filter).
  public let hit: Int
  public let action: FaultAction
  public let mode: FaultMode

  public init(point: String, hit: Int, action: FaultAction, mode: FaultMode) {
    self.point = point
    self.hit = hit
    self.action = action
    self.mode = mode
  }

  public var spec: FaultSpec { FaultSpec(point: point, trigger: .nth(hit), mode: mode, action: action) }
  public var description: String {
    "\(point)#\(hit) \(action)" + (mode == .persistent ? " (persistent)" : "")
  }
}

/// What a sweep explores: which points (globs), which actions, how deep.
public struct SweepConfig: Sendable, Hashable, Codable {
  public var points: [String]
  /// nil: every action each point supports except `yield` (a schedule choice, not a failure).
  public var actions: [FaultActionKind]?
  /// nil: every errno each point declares (for `fail`).
  public var errnos: [Errno]?
  /// 1: one fault per scenario; 2: a second fault at each hit of each depth-1 scenario's run.
  public var depth: Int
  public var modes: [FaultMode]

  public init(
    points: [String] = ["*"], actions: [FaultActionKind]? = nil, depth: Int = 1,
    modes: [FaultMode] = [.transient, .persistent]
  ) {
    self.points = points
    self.actions = actions
    self.depth = depth
    self.modes = modes
  }

  /// The plan's `sweep:` section, or everything at depth 1.
  public init(plan: Plan) {
    self.init(points: plan.sweep?.points ?? ["*"], actions: plan.sweep?.actions, depth: plan.sweep?.depth ?? 1)
  }
}

/// The fault space of a run: every placement its recorded hits allow.
public enum FaultSpace {
  /// One placement per (hit, action, errno, mode) the point declares and the config admits, in
  /// hit order, without those pruned: with `digests` (the state at each hit), a placement whose
  /// state, action and mode equal an earlier one's starts where it did and ends as it did.
  /// Returns the kept placements and how many were pruned.
  public static func placements(hits: [Hit], digests: [UInt64], catalog: FaultCatalog, config: SweepConfig) -> (
    [Placement], pruned: Int
  ) {
    let all = placements(hits: hits, catalog: catalog, config: config)
    guard digests.count == hits.count else { return (all, 0) }
    var digestOf: [String: UInt64] = [:]
    for (h, d) in zip(hits, digests) { digestOf["\(h.point)#\(h.hit)"] = d }
    var seen = Set<String>()
    var kept: [Placement] = []
    for p in all {
      let key = "\(digestOf["\(p.point)#\(p.hit)"] ?? 0)|\(p.action)|\(p.mode)"
      if seen.insert(key).inserted { kept.append(p) }
    }
    return (kept, all.count - kept.count)
  }

  /// Every placement, unpruned.
  public static func placements(hits: [Hit], catalog: FaultCatalog, config: SweepConfig) -> [Placement] {
    var out: [Placement] = []
    var byName: [String: FaultPoint] = [:]
    for p in catalog.points { byName[p.name] = p }
    for h in hits {
      guard let point = byName[h.point], config.points.contains(where: { Glob.matches($0, h.point) }) else { continue }
      for kind in point.actions where kind != .yield && (config.actions?.contains(kind) ?? true) {
        let actions: [FaultAction] =
          switch kind {
          case .fail: point.errnos.filter { config.errnos?.contains($0) ?? true }.map { .fail($0) }
          case .short: [.short(maxBytes: nil)]
          case .restart: [.restart]
          case .crash: [.crash]
          case .yield: []
          }
        for a in actions {
          for m in config.modes where point.modes.contains(m) {
            out.append(Placement(point: h.point, hit: h.hit, action: a, mode: m))
          }
        }
      }
    }
    return out
  }
}
