/// The scenarios a sweep still has to start: the depth-1 space, and the children finished
/// scenarios added. Children go first (depth first), so a depth-2 sweep holds the children of the
/// scenarios in flight, never its whole second level: a new depth-1 scenario starts only when no
/// child waits.
public struct ScenarioQueue: Sendable {
  private var initial: [SweepScenario]
  private var next = 0
  private var children: [SweepScenario] = []
  private var head = 0

  public init(_ initial: [SweepScenario]) { self.initial = initial }

  public var isEmpty: Bool { head >= children.count && next >= initial.count }

  public mutating func add(_ more: [SweepScenario]) {
    if head == children.count {
      children.removeAll(keepingCapacity: true)
      head = 0
    }
    children += more
  }

  public mutating func take() -> SweepScenario? {
    if head < children.count {
      let sc = children[head]
      head += 1
      // Taken children are dropped now and then, not kept until the end.
      if head >= 1024 && head * 2 >= children.count {
        children.removeFirst(head)
        head = 0
      }
      return sc
    }
    guard next < initial.count else { return nil }
    next += 1
    return initial[next - 1]
  }
}
