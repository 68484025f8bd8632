import Testing

@testable import FaultKit

/// The order a sweep starts scenarios in: depth 1 as written, children first; depth 2 round-robin
/// across plans, pairs of new states before more depth-1 scenarios, pairs of seen states last.
@Suite("scenario queue")
struct ScenarioQueueTests {
  static let config = SweepConfig(depth: 2)

  func first(_ plan: String, _ i: Int, expand: Bool = true) -> SweepScenario {
    SweepScenario(
      plan: plan, bugs: [], placements: [Placement(point: "p", hit: i, action: .fail(.io), mode: .transient)], index: i,
      expand: expand ? Self.config : nil)
  }

  func pairs(under parent: SweepScenario, _ n: Int) -> [SweepScenario] {
    (0..<n).map {
      SweepScenario(
        plan: parent.plan, bugs: [],
        placements: parent.placements + [Placement(point: "q", hit: $0 + 1, action: .fail(.io), mode: .transient)],
        index: parent.index, child: $0)
    }
  }

  func name(_ sc: SweepScenario) -> String { "\(sc.plan)\(sc.index)" + (sc.child >= 0 ? ".\(sc.child)" : "") }

  @Test("depth 1: the initial order, each scenario's children right after it")
  func depthFirst() {
    let a = [first("A", 0, expand: false), first("A", 1, expand: false), first("B", 2, expand: false)]
    var q = ScenarioQueue(a)
    #expect(!q.pairsFirst)
    var order: [String] = []
    while let sc = q.take() {
      order.append(name(sc))
      if sc.index == 0 && sc.child < 0 { q.add(pairs(under: sc, 2), after: sc) }
    }
    #expect(order == ["A0", "A0.0", "A0.1", "A1", "B2"])
  }

  @Test("depth 2: plans take turns, a new state's pairs run before the next depth-1 scenario, a seen state's last")
  func pairsFirst() {
    let a = [first("A", 0), first("A", 1), first("A", 2), first("B", 3), first("B", 4)]
    var q = ScenarioQueue(a)
    #expect(q.pairsFirst)
    var order: [String] = []
    // A0 and A1 end in the same state; A2 and B's in new ones.
    let state = ["A0": "s", "A1": "s", "A2": "t", "B3": "u", "B4": "v"]
    var bound = 0
    while let sc = q.take() {
      bound += 1
      #expect(bound < 100)
      order.append(name(sc))
      if sc.child < 0 { q.add(pairs(under: sc, 2), after: sc, state: state[name(sc)]) }
    }
    #expect(
      order == [
        "A0", "B3", "A0.0", "B3.0", "A0.1", "B3.1", "A1", "B4", "A2", "B4.0", "A2.0", "B4.1", "A2.1", "A1.0", "A1.1",
      ])
  }

  @Test("a lane holding many pairs of seen states runs them before more depth-1 scenarios")
  func heldPairsBound() {
    var q = ScenarioQueue([first("A", 0), first("A", 1), first("A", 2)], heldPairsBound: 2)
    var order: [String] = []
    var bound = 0
    while let sc = q.take() {
      bound += 1
      #expect(bound < 100)
      order.append(name(sc))
      if sc.child < 0 { q.add(pairs(under: sc, 2), after: sc, state: "same") }
    }
    // A1's pairs (a seen state) fill the lane to its bound: one runs before A2 starts.
    #expect(order == ["A0", "A0.0", "A0.1", "A1", "A1.0", "A2", "A1.1", "A2.0", "A2.1"])
  }

  @Test("the same outcomes in the same order give the same start order")
  func deterministic() {
    func run() -> [String] {
      var q = ScenarioQueue((0..<6).map { first($0 % 2 == 0 ? "A" : "B", $0) })
      var order: [String] = []
      var bound = 0
      while let sc = q.take(), bound < 1000 {
        bound += 1
        order.append(name(sc))
        if sc.child < 0 { q.add(pairs(under: sc, 3), after: sc, state: "\(sc.index % 3)") }
      }
      return order
    }
    let one = run()
    #expect(one.count == 6 + 18)
    #expect(one == run())
  }
}
