/// The scenarios a sweep still has to start, and the order it starts them in: a pure function of
/// the initial list and the sequence of `add` calls, so an executor that adds in a fixed order
/// (the order scenarios were started) starts the same scenarios in the same order every time.
///
/// Depth 1 (no initial scenario places children), and `Order.depthFirst` (`--rotation`): the
/// initial order, children first (depth first), as a sweep always ran them.
///
/// Depth 2: one lane per plan, taken round-robin, so a budget cut leaves every plan some pairs. A
/// pair becomes runnable as soon as its first fault's depth-1 scenario has finished. Within a
/// lane: pairs under a first fault whose run reached a state the plan had not reached before
/// (`add`'s `state`: a digest of where the run ended) first, then the next depth-1 scenario (which
/// brings more pairs), then pairs under first faults that led to a state already seen. So a
/// budgeted depth-2 sweep spends its time on pairs, and first on the ones most likely to differ.
/// While a lane holds `heldPairsBound` pairs of seen states, it runs those before more depth-1
/// scenarios: a plan's lane holds about that many pairs plus the children of its scenarios in
/// flight, never its whole second level.
public struct ScenarioQueue: Sendable {
  /// One plan's scenarios.
  struct Lane: Sendable {
    let plan: String
    var depth1: [SweepScenario] = []
    var depth1Head = 0
    var novel = Fifo()
    var repeated = Fifo()
    /// States this plan's depth-1 runs reached (digests). Only membership is asked: the order of
    /// a Set never shapes which scenario runs.
    var seen: Set<String> = []

    var isEmpty: Bool { depth1Head >= depth1.count && novel.isEmpty && repeated.isEmpty }

    mutating func take(heldPairsBound: Int) -> SweepScenario? {
      if let sc = novel.take() { return sc }
      if depth1Head < depth1.count && repeated.count < heldPairsBound {
        depth1Head += 1
        return depth1[depth1Head - 1]
      }
      if let sc = repeated.take() { return sc }
      guard depth1Head < depth1.count else { return nil }
      depth1Head += 1
      return depth1[depth1Head - 1]
    }
  }

  /// A first-in first-out list that drops what was taken now and then.
  struct Fifo: Sendable {
    private var items: [SweepScenario] = []
    private var head = 0
    var isEmpty: Bool { head >= items.count }
    var count: Int { items.count - head }
    mutating func append(contentsOf more: [SweepScenario]) {
      if head == items.count {
        items.removeAll(keepingCapacity: true)
        head = 0
      }
      items += more
    }
    mutating func take() -> SweepScenario? {
      guard head < items.count else { return nil }
      let sc = items[head]
      head += 1
      if head >= 1024 && head * 2 >= items.count {
        items.removeFirst(head)
        head = 0
      }
      return sc
    }
  }

  private var lanes: [Lane] = []
  /// Plan file → lane; asked by key only.
  private var laneOf: [String: Int] = [:]
  /// The lane `take` looks at first.
  private var cursor = 0
  /// How a queue orders what it holds.
  public enum Order: Sendable {
    /// The initial order, each scenario's children right after it (depth first): depth-1
    /// sweeps, and `--rotation`, whose units (a depth-1 scenario and its children) stay whole.
    case depthFirst
    /// Lanes per plan, round-robin, pairs of new states first (see the type).
    case pairsFirst
  }

  /// Depth 2: lanes per plan, round-robin. Depth 1: one lane, in the initial order.
  public let pairsFirst: Bool
  /// Pairs of already-seen states a lane holds before it runs them ahead of depth-1 scenarios.
  public let heldPairsBound: Int

  /// - Parameters:
  ///   - order: nil: `pairsFirst` when some initial scenario places children (depth 2), else
  ///     `depthFirst`.
  public init(_ initial: [SweepScenario], order: Order? = nil, heldPairsBound: Int = 4096) {
    self.heldPairsBound = max(1, heldPairsBound)
    switch order {
    case .depthFirst: pairsFirst = false
    case .pairsFirst: pairsFirst = true
    case nil: pairsFirst = initial.contains { $0.expand != nil || $0.child >= 0 }
    }
    for sc in initial {
      let i = lane(for: sc.plan)
      // Children a resumed sweep still owes: runnable at once.
      if sc.child >= 0 || sc.prefix != nil {
        lanes[i].novel.append(contentsOf: [sc])
      } else {
        lanes[i].depth1.append(sc)
      }
    }
  }

  private mutating func lane(for plan: String) -> Int {
    let key = pairsFirst ? plan : ""
    if let i = laneOf[key] { return i }
    lanes.append(Lane(plan: key))
    laneOf[key] = lanes.count - 1
    return lanes.count - 1
  }

  public var isEmpty: Bool { lanes.allSatisfy(\.isEmpty) }

  /// Adds the children of `parent`, which finished; `state` is a digest of where its run ended
  /// (nil: unknown, counted as new). A parent without children still marks its state seen.
  public mutating func add(_ more: [SweepScenario], after parent: SweepScenario? = nil, state: String? = nil) {
    guard let plan = parent?.plan ?? more.first?.plan else { return }
    let i = lane(for: plan)
    if let state, pairsFirst, !lanes[i].seen.insert(state).inserted {
      lanes[i].repeated.append(contentsOf: more)
    } else {
      lanes[i].novel.append(contentsOf: more)
    }
  }

  public mutating func take() -> SweepScenario? {
    // Bounded by the number of lanes: each is looked at once.
    for k in 0..<lanes.count {
      let i = (cursor + k) % lanes.count
      if let sc = lanes[i].take(heldPairsBound: heldPairsBound) {
        cursor = (i + 1) % lanes.count
        return sc
      }
    }
    return nil
  }
}
