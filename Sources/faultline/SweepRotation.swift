import FaultKit
import Foundation

/// `sweep --rotation FILE`: a nightly that cannot sweep the whole space in its budget sweeps a
/// different part each night and the whole of it over successive nights.
///
/// The space is cut into units, one per depth-1 scenario (with its depth-2 children and its
/// schedules), and the units are dealt round-robin across the plans: the 1st unit of every plan,
/// then the 2nd of every plan, and so on, so a night's budget reaches every plan rather than the
/// first few. The state file holds where the next night starts: the first unit this night did not
/// finish. The order is fixed by the plans and the state file alone; only where the budget stops
/// depends on the clock.
struct SweepRotation {
  struct State: Codable, Equatable {
    static let currentSchema = "faultline-rotation/1"
    var schema = currentSchema
    var shard: Shard
    /// Where the next night starts: the unit's place in the order, and its identity (found again
    /// by identity when plans were added or removed; by place, modulo the count, when it is gone).
    var position: Int
    var unit: String?
    /// Units in the order when the state was written.
    var units: Int
    /// Units finished since the current cycle began, and cycles finished (every unit swept once).
    var covered: Int
    var cycles: Int
    var nights: Int
  }

  let path: String
  let state: State
  /// The order of units (depth-1 indexes) and each unit's identity.
  let order: [Int]
  let names: [Int: String]
  /// Where tonight starts in `order`.
  let start: Int
  /// Plan name of each unit, for what is said.
  let plans: [Int: String]

  /// A unit's identity: the plan file and its placement, not the index (which moves when a plan
  /// before it changes).
  static func name(_ sc: SweepScenario) -> String {
    "\(sc.plan)|" + sc.placements.map(\.description).joined(separator: "+")
  }

  /// Reads the state (none yet: start at the first unit) and lays out tonight's order over `space`.
  /// - Throws: `BadInput` for a file that is not a rotation state, or one of another shard.
  init(path: String, space: [[SweepScenario]], planNames: [String], shard: Shard) throws {
    try self.init(path: path, state: Self.read(path, shard: shard), space: space, planNames: planNames)
  }

  /// The state at `path`, checked before the sweep touches its report directory.
  /// - Throws: `BadInput` for a file that is not a rotation state, or one of another shard.
  static func read(_ path: String, shard: Shard) throws -> State {
    var state = State(shard: shard, position: 0, unit: nil, units: 0, covered: 0, cycles: 0, nights: 0)
    if FileManager.default.fileExists(atPath: path) {
      guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
        let read = try? JSONDecoder().decode(State.self, from: data), read.schema == State.currentSchema
      else {
        throw BadInput(description: "--rotation \(path): not a rotation state (\(State.currentSchema))")
      }
      guard read.shard == shard else {
        throw BadInput(
          description:
            "--rotation \(path): it rotates shard \(read.shard), this sweep is shard \(shard); give each shard its own file"
        )
      }
      state = read
    }
    return state
  }

  init(path: String, state: State, space: [[SweepScenario]], planNames: [String]) {
    self.path = path
    let shard = state.shard
    var perPlan: [[Int]] = []
    var names: [Int: String] = [:]
    var plans: [Int: String] = [:]
    for (k, list) in space.enumerated() {
      var units: [Int] = []
      for sc in list where shard.owns(sc.index) && names[sc.index] == nil {
        units.append(sc.index)
        names[sc.index] = Self.name(sc)
        plans[sc.index] = planNames[k]
      }
      perPlan.append(units)
    }
    var order: [Int] = []
    let rounds = perPlan.map(\.count).max() ?? 0
    for r in 0..<rounds {
      for units in perPlan where r < units.count { order.append(units[r]) }
    }
    self.order = order
    self.names = names
    self.plans = plans
    self.state = state
    if order.isEmpty {
      start = 0
    } else if let u = state.unit, let at = order.firstIndex(where: { names[$0] == u }) {
      start = at
    } else {
      start = state.position % order.count
    }
  }

  /// `initial` in tonight's order: by unit, from `start`, wrapping round once.
  func arrange(_ initial: [SweepScenario]) -> [SweepScenario] {
    guard !order.isEmpty else { return initial }
    var rank: [Int: Int] = [:]
    for (i, u) in order.enumerated() { rank[u] = (i - start + order.count) % order.count }
    return initial.enumerated().sorted { a, b in
      (rank[a.element.index] ?? Int.max, a.offset) < (rank[b.element.index] ?? Int.max, b.offset)
    }.map(\.element)
  }

  /// Counts the scenarios of each unit still to finish, and the units the budget cut short.
  struct Tracker {
    private(set) var pending: [Int: Int] = [:]
    private(set) var cut = Set<Int>()
    /// Scenarios that finished tonight.
    private(set) var ran = 0
    init(_ initial: [SweepScenario]) { for sc in initial { pending[sc.index, default: 0] += 1 } }
    /// A scenario finished; `more` are its children, `started` whether they will run.
    mutating func finished(_ sc: SweepScenario, more: Int, started: Bool) {
      ran += 1
      pending[sc.index, default: 1] -= 1
      if started { pending[sc.index, default: 0] += more } else if more > 0 { cut.insert(sc.index) }
    }
    func done(_ unit: Int) -> Bool { (pending[unit] ?? 0) == 0 && !cut.contains(unit) }
  }

  /// The state after tonight, and what to say about it.
  func next(_ tracker: Tracker) -> (State, [String]) {
    var s = state
    s.nights += 1
    s.units = order.count
    guard !order.isEmpty else { return (s, ["rotation: no units in the space"]) }
    var finished = 0
    while finished < order.count && tracker.done(order[(start + finished) % order.count]) { finished += 1 }
    var lines: [String] = []
    var advance = finished
    if tracker.ran == 0 {
      // Nothing started (the budget went on the space): the same unit starts the next night.
      advance = 0
    } else if finished == 0 {
      let u = order[start]
      lines.append(
        "rotation: unit \(names[u] ?? "") (plan \(plans[u] ?? "")) has more scenarios than the budget ran; "
          + "the rotation moves past it (a larger --budget sweeps it whole)")
      advance = 1
    }
    s.covered += advance
    while s.covered >= order.count {
      s.covered -= order.count
      s.cycles += 1
    }
    let nextAt = (start + advance) % order.count
    s.position = nextAt
    s.unit = names[order[nextAt]]
    let touched = Set((0..<finished).map { plans[order[(start + $0) % order.count]] ?? "" })
    lines.insert(
      "rotation: \(finished) of \(order.count) units finished tonight, from unit \(start + 1) (\(touched.count) plan(s)); "
        + "cycle \(s.cycles + 1): \(s.covered) of \(order.count) units swept; the next night starts at unit \(nextAt + 1)",
      at: 0)
    return (s, lines)
  }

  /// Written to a temporary file and renamed.
  static func write(_ s: State, to path: String) throws {
    try JSONStateFile.write(s, to: path, option: "--rotation")
  }
}
