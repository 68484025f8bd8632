import Testing

@testable import FaultKit

/// A tiny lock for scheduler tests: blocks on a key until released.
final class TestLock: @unchecked Sendable {
  var holder: String?
  let key: WaitKey
  let s: Scheduler
  init(_ s: Scheduler, id: Int) {
    self.s = s
    key = WaitKey(kind: 99, a: id)
  }
  func lock() async throws {
    try await s.point("lock \(key.a)")
    var n = 0
    while holder != nil {
      n += 1
      precondition(n < 1000)
      try await s.block(on: key, what: "lock L\(key.a)")
    }
    holder = s.currentName
  }
  func unlock() {
    holder = nil
    s.wake(key)
  }
}

final class Log: @unchecked Sendable {
  var lines: [String] = []
}

@Suite("Scheduler")
struct SchedulerTests {
  func make(_ policy: any SchedulePolicy = FIFOPolicy(), steps: Int = 10_000) -> Scheduler {
    Scheduler(policy: policy, stepLimit: steps, trace: Trace())
  }

  @Test("fifo runs each task until it blocks or ends")
  func fifoOrder() {
    let s = make()
    let log = Log()
    for name in ["a", "b"] {
      s.spawn(name, kind: .plan) {
        for i in 0..<3 {
          log.lines.append("\(name)\(i)")
          try await s.point("p")
        }
      }
    }
    #expect(s.run() == .quiescent)
    #expect(log.lines == ["a0", "a1", "a2", "b0", "b1", "b2"])
  }

  @Test("random policy interleaves, and the same seed gives the same order")
  func randomDeterministic() {
    func order(_ seed: UInt64) -> [String] {
      let s = make(RandomPolicy(seed: seed))
      let log = Log()
      for name in ["a", "b", "c"] {
        s.spawn(name, kind: .plan) {
          for i in 0..<5 {
            log.lines.append("\(name)\(i)")
            try await s.point("p")
          }
        }
      }
      s.run()
      return log.lines
    }
    #expect(order(1) == order(1))
    let orders = Set((1...6).map { order(UInt64($0)) })
    #expect(orders.count > 1)
    #expect(
      !orders.contains(["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4", "c0", "c1", "c2", "c3", "c4"])
        || orders.count > 1)
  }

  @Test("a task blocked on a lock parks and is woken by the unlock")
  func blockAndWake() {
    let s = make()
    let l = TestLock(s, id: 1)
    let log = Log()
    s.spawn("a", kind: .plan) {
      try await l.lock()
      log.lines.append("a locked")
      try await s.yield(to: "b", at: "test")
      log.lines.append("a unlocks")
      l.unlock()
    }
    s.spawn("b", kind: .plan) {
      try await l.lock()
      log.lines.append("b locked")
      l.unlock()
    }
    #expect(s.run() == .quiescent)
    #expect(log.lines == ["a locked", "a unlocks", "b locked"])
    #expect(s.trace.events.contains(.blocked(task: "b", on: "lock L1")))
  }

  @Test("no runnable task with a plan task unfinished is a hang, with who waits on what")
  func hangDetected() {
    let s = make()
    let l1 = TestLock(s, id: 1)
    let l2 = TestLock(s, id: 2)
    s.spawn("a", kind: .plan) {
      try await l1.lock()
      try await s.yield(to: "b", at: "test")
      try await l2.lock()
    }
    s.spawn("b", kind: .plan) {
      try await l2.lock()
      try await l1.lock()
    }
    #expect(s.run() == .hang)
    let st = s.statuses
    #expect(st.first { $0.name == "a" }?.blockedOn == "lock L2")
    #expect(st.first { $0.name == "b" }?.blockedOn == "lock L1")
    s.abortAll()
    #expect(s.statuses.allSatisfy { $0.finished })
  }

  @Test("an idle worker is not a hang")
  func idleWorker() {
    let s = make()
    s.spawn("worker", kind: .worker) {
      try await s.block(on: WaitKey(kind: 98, a: 1), what: "work", idle: true)
    }
    s.spawn("a", kind: .plan) { try await s.point("p") }
    #expect(s.run() == .quiescent)
    s.abortAll()
  }

  @Test("a scenario that passes its step bound stops and says so")
  func stepBound() {
    let s = make(steps: 50)
    s.spawn("spinner", kind: .plan) {
      for _ in 0..<1_000 { try await s.point("spin") }
    }
    #expect(s.run() == .stepBound(steps: 50))
    #expect(s.trace.events.last?.line.contains("step bound 50") == true)
    s.abortAll()
  }

  @Test("replaying recorded choices reproduces a random schedule")
  func replay() {
    func run(_ p: any SchedulePolicy) -> ([String], [String]) {
      let s = make(p)
      let log = Log()
      for name in ["a", "b"] {
        s.spawn(name, kind: .plan) {
          for i in 0..<4 {
            log.lines.append("\(name)\(i)")
            try await s.point("p")
          }
        }
      }
      s.run()
      return (log.lines, s.choices)
    }
    let (order, choices) = run(RandomPolicy(seed: 99))
    let (again, _) = run(ReplayPolicy(choices))
    #expect(order == again)
  }

  @Test("a task spawned by a running task starts when scheduled")
  func spawnFromTask() {
    let s = make()
    let log = Log()
    s.spawn("parent", kind: .plan) {
      s.spawn("child", kind: .plan) { log.lines.append("child") }
      log.lines.append("parent")
    }
    #expect(s.run() == .quiescent)
    #expect(log.lines == ["parent", "child"])
  }

  @Test("a held task waits for the yield that names it")
  func heldUntilPreempted() {
    let s = make()
    let log = Log()
    s.spawn("a", kind: .plan) {
      log.lines.append("a0")
      try await s.point("p")
      log.lines.append("a1")
      try await s.yield(to: "b", at: "window")
      log.lines.append("a2")
    }
    s.spawn("b", kind: .plan) { log.lines.append("b") }
    s.hold("b")
    #expect(s.run() == .quiescent)
    #expect(log.lines == ["a0", "a1", "b", "a2"])
  }

  @Test("a held task whose preemption never comes is released when nothing else can run")
  func heldReleased() {
    let s = make()
    let log = Log()
    s.spawn("a", kind: .plan) { log.lines.append("a") }
    s.spawn("b", kind: .plan) { log.lines.append("b") }
    s.hold("b")
    #expect(s.run() == .quiescent)
    #expect(log.lines == ["a", "b"])
    #expect(s.trace.events.contains(.note("b: released (its preemption point was not reached)")))
  }

  @Test("a pinned yield to a task that cannot run does not switch to another")
  func pinnedYieldNoSwitch() {
    let s = make()
    let log = Log()
    s.spawn("a", kind: .plan) {
      try await s.yield(to: "nobody", at: "p")
      log.lines.append("a")
    }
    s.spawn("b", kind: .plan) { log.lines.append("b") }
    s.run()
    #expect(log.lines == ["a", "b"])
  }
}
