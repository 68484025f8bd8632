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
///
/// Nothing is pruned. Two hits of one run never start from the same state: the state that decides
/// a scenario's future (the engine's whole internal state, every task's place and locals, the
/// scheduler, the injector's live triggers, the data oracle and the verdicts so far) cannot repeat
/// within a deterministic run that ends (it would then repeat for ever), and a run that ends at the
/// step bound differs in the steps it has left. A digest sound enough to prune on would therefore
/// never merge two placements of one run. The snapshot digest sweeps pruned on before merged
/// states that differ, such as two passes of a writeback loop whose runs then took different
/// numbers of steps.
public enum FaultSpace {
  /// One placement per (hit, action, errno, mode) the point declares and the config admits, in hit
  /// order.
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

  /// A depth-2 sweep's second faults under `first`: a placement at each hit of `first`'s own run
  /// that comes after `first` fired, in hit order. A hit before it is not placed: a fault there
  /// changes the path before `first` and `first` may then never fire (a scenario nobody asked
  /// for); the pair it stands for is the one placed under that earlier hit as a first fault. A
  /// persistent `first` already fails every later hit of its point, so none is placed there.
  /// Nothing when `first` never fired.
  public static func children(of first: Placement, hits: [Hit], catalog: FaultCatalog, config: SweepConfig)
    -> [Placement]
  {
    guard let at = hits.firstIndex(where: { $0.point == first.point && $0.hit == first.hit }) else { return [] }
    let later = hits[(at + 1)...].filter { !(first.mode == .persistent && $0.point == first.point) }
    return placements(hits: Array(later), catalog: catalog, config: config)
  }
}
