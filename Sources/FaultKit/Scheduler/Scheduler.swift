/// Thrown out of a parked task when the scenario is being torn down (after a hang, at the step
/// bound, or at the end). Engine code must let it pass: it is not a filesystem error.
public struct ScenarioAbort: Error, Sendable {}

/// What a task can block on: a lock, an ordered extent, a work queue … Two waits on the same key
/// are woken together. `kind` separates namespaces; `a` and `b` are engine-chosen ids.
public struct WaitKey: Hashable, Sendable {
  public let kind: UInt8
  public let a: Int
  public let b: Int
  public init(kind: UInt8, a: Int, b: Int = 0) {
    self.kind = kind
    self.a = a
    self.b = b
  }
}

/// Work a scenario's tasks wait on that runs outside the scheduler's thread: a guest kernel
/// carrying out an operation, a library's own thread. A task parks on it with
/// `Scheduler.block(on:what:external:)`; when no task can run, the scheduler asks for completions
/// here instead of calling the run a hang.
public protocol ExternalCompletions: AnyObject {
  /// Blocks until some awaited far-side work completes, and returns the keys to wake. Empty means
  /// nothing will complete (the far side did not answer within its own deadline): the tasks
  /// waiting on it are hung.
  func awaitCompletions() -> [WaitKey]
}

/// Why a run of the scheduler stopped.
public enum StopReason: Sendable, Hashable, Codable {
  /// No task can run and every plan task has finished (idle workers may be parked).
  case quiescent
  /// No task can run, yet some plan task has not finished.
  case hang
  /// The scenario passed its step bound.
  case stepBound(steps: Int)
}

public enum TaskKind: String, Sendable, Hashable, Codable {
  /// A plan task: runs the plan's operations, must finish.
  case plan
  /// An engine worker (I/O completion, fixup …): may idle forever.
  case worker
  /// The runner's own task (setup, data oracle).
  case harness
}

/// A task's state as invariants and hang reports see it.
public struct TaskStatus: Sendable, Hashable, Codable {
  public let name: String
  public let kind: TaskKind
  /// 1-based number of the op (or work item) the task is inside, nil when between ops or finished.
  public let inOp: Int?
  public let opName: String
  public let finished: Bool
  /// The resource it is blocked on, if blocked.
  public let blockedOn: String?
  /// True when a worker is parked waiting for work.
  public let idle: Bool
}

/// Runs a scenario's tasks one at a time on a deterministic executor and switches only at
/// schedule points (lock acquire, fault points, queueing work, I/O completion, blocking, ending).
/// Which task runs next is the policy's choice, so the same plan, seed and policy give the same
/// trace. A task blocking on a model lock parks; when no task can run the run stops, and it is a
/// hang if some plan task has not finished.
///
/// Not thread-safe: one scenario, one thread. `@unchecked Sendable` because tasks capture it and
/// they all run on the one executor thread that drains it.
public final class Scheduler: @unchecked Sendable {
  final class SimTask {
    enum State { case starting, runnable, running, blocked, finished }
    let id: Int
    let name: String
    let kind: TaskKind
    var state = State.starting
    var waitKey: WaitKey?
    var waitLabel = ""
    var idleWait = false
    /// Parked on far-side work (`ExternalCompletions`), not on another task.
    var externalWait = false
    var cont: UnsafeContinuation<Bool, Never>?
    var opCount = 0
    var inOp = false
    var opName = ""
    var runnableSince: UInt64 = 0
    /// Held back for a pinned preemption: not picked until a yield names it, or nothing else runs.
    var held = false
    init(id: Int, name: String, kind: TaskKind) {
      self.id = id
      self.name = name
      self.kind = kind
    }
  }

  private let executor = DeterministicExecutor()
  private var tasks: [SimTask] = []
  private var current: SimTask?
  private var policy: any SchedulePolicy
  private var tick: UInt64 = 0
  public let trace: Trace
  public let stepLimit: Int
  public private(set) var steps = 0
  public private(set) var stop: StopReason?
  private var aborting = false
  /// Set when a dispatch found no runnable task but some task had not reached its start gate.
  private var dispatchPending = false
  /// Set when a dispatch found no runnable task but some task waits on far-side work.
  private var awaitingExternal = false
  /// Where tasks' far-side work completes (an engine whose code runs elsewhere sets itself).
  public weak var external: (any ExternalCompletions)?
  /// The task picked at every point that had a choice: replaying these reproduces the schedule.
  public private(set) var choices: [String] = []
  /// How many tasks could run at each of those points: what exhaustive exploration branches on.
  public private(set) var choiceCounts: [Int] = []
  /// Tasks that ended by throwing something other than `ScenarioAbort` (an engine worker's error
  /// nobody caught), in the order they ended: the runner reports each, none is dropped.
  public private(set) var taskErrors: [TaskError] = []

  /// A task that ended with an error.
  public struct TaskError: Sendable, Hashable {
    public let task: String
    public let kind: TaskKind
    public let error: String
  }

  /// Hands over the task errors recorded so far and forgets them.
  public func takeTaskErrors() -> [TaskError] {
    defer { taskErrors = [] }
    return taskErrors
  }

  public init(policy: any SchedulePolicy, stepLimit: Int, trace: Trace) {
    self.policy = policy
    self.stepLimit = stepLimit
    self.trace = trace
  }

  public var policyDivergence: String? { policy.divergence }

  // MARK: Tasks

  /// Adds a task; it starts at the next `run()` when the policy picks it.
  @discardableResult
  public func spawn(_ name: String, kind: TaskKind, _ body: @escaping @Sendable () async throws -> Void) -> Int {
    let t = SimTask(id: tasks.count, name: name, kind: kind)
    tasks.append(t)
    Task(executorPreference: executor) { [self] in
      let aborted = await withUnsafeContinuation { c in
        t.cont = c
        t.state = .runnable
        tick += 1
        t.runnableSince = tick
        // A dispatch that found nobody runnable while this task was starting is due now.
        if dispatchPending && current == nil {
          dispatchPending = false
          dispatchNext(at: "start \(t.name)")
        }
      }
      if !aborted {
        do {
          try await body()
        } catch is ScenarioAbort {
          // Torn down: not the task's error.
        } catch {
          self.taskErrors.append(TaskError(task: t.name, kind: t.kind, error: "\(error)"))
        }
      }
      self.finish(t)
    }
    return t.id
  }

  /// Holds a task back for a pinned preemption ("switch to it at the Nth hit of P"): the policy
  /// does not pick it until a `yield(to:)` names it; if nothing else can run first, it is released
  /// so the scenario still finishes (the trace then shows the window never opened).
  public func hold(_ name: String) {
    for t in tasks where t.name == name && t.state != .finished { t.held = true }
  }

  /// The running task's name ("-" outside tasks).
  public var currentName: String { current?.name ?? "-" }

  /// The running task as a lock holder.
  public var holder: Holder {
    guard let c = current else { return Holder(task: "-", op: 0, opName: "") }
    return Holder(task: c.name, op: c.opCount, opName: c.opName)
  }

  /// The running task's current operation name ("" between ops).
  public var currentOp: String { current.map { $0.inOp ? $0.opName : "" } ?? "" }

  /// Marks the running task as entering its next operation (or work item).
  public func beginOp(_ name: String) {
    guard let c = current else { return }
    c.opCount += 1
    c.inOp = true
    c.opName = name
  }

  /// Marks the running task as between operations.
  public func endOp() { current?.inOp = false }

  /// Every task's status, in spawn order.
  public var statuses: [TaskStatus] {
    tasks.map {
      TaskStatus(
        name: $0.name, kind: $0.kind, inOp: $0.inOp && $0.state != .finished ? $0.opCount : nil,
        opName: $0.opName, finished: $0.state == .finished,
        blockedOn: $0.state == .blocked && !$0.idleWait ? $0.waitLabel : nil,
        idle: $0.state == .blocked && $0.idleWait)
    }
  }

  // MARK: Driving

  /// Runs tasks until none can run. Returns why it stopped.
  @discardableResult
  public func run() -> StopReason {
    stop = nil
    dispatchPending = false
    awaitingExternal = false
    executor.drain()  // new tasks reach their start gate
    if current == nil { dispatchNext(at: "start") }
    executor.drain()
    // Far-side work: wait for it whenever nothing else can run. Bounded: each pass wakes a task
    // (which then makes a step, counted against the step bound) or stops.
    var passes = 0
    while awaitingExternal && stop == nil && passes <= stepLimit {
      passes += 1
      awaitingExternal = false
      let keys = external?.awaitCompletions() ?? []
      guard !keys.isEmpty else { break }
      for k in keys { wake(k) }
      dispatchNext(at: "far-side completion")
      executor.drain()
    }
    if stop == nil { stop = classifyStop() }
    return stop!
  }

  /// Starts a fresh step budget: each phase of a scenario (setup, the plan, the oracle's reads,
  /// recover) gets the whole bound.
  public func resetSteps() { steps = 0 }

  /// Tears every unfinished task down: each parked task throws `ScenarioAbort` and unwinds.
  public func abortAll() {
    aborting = true
    dispatchPending = false
    // Tasks still starting reach their gate on the first drain; each round aborts what is parked.
    for _ in 0...tasks.count {
      executor.drain()
      let parked = tasks.filter { $0.state != .finished && $0.cont != nil }
      if parked.isEmpty { break }
      for t in parked {
        let c = t.cont!
        t.cont = nil
        t.state = .running
        c.resume(returning: true)
      }
    }
    executor.drain()
    current = nil
    aborting = false
  }

  /// Nothing can run: a hang if a plan or harness task is unfinished, or a worker is blocked on
  /// something other than its empty queue (nothing will ever wake it).
  private func classifyStop() -> StopReason {
    let hung = tasks.contains {
      ($0.kind != .worker && $0.state != .finished) || ($0.kind == .worker && $0.state == .blocked && !$0.idleWait)
    }
    return hung ? .hang : .quiescent
  }

  // MARK: Schedule points

  /// A schedule point: the policy may switch to another runnable task here.
  /// - Throws: `ScenarioAbort` when the scenario is being torn down or passed its step bound.
  public func point(_ label: @autoclosure () -> String) async throws {
    guard let me = current, !aborting else { throw ScenarioAbort() }
    steps += 1
    if steps > stepLimit { try await stopAtBound(me, label()) }
    guard tasks.contains(where: { $0.state == .runnable && !$0.held }) else { return }
    let runnable = runnableTasks(including: me)
    let label = label()
    let i = policy.choose(ScheduleChoice(point: label, current: me.name, candidates: runnable.map(\.name), step: steps))
    choices.append(runnable[i].name)
    choiceCounts.append(runnable.count)
    if i == 0 { return }
    let next = runnable[i]
    trace.append(.switched(from: me.name, to: next.name, at: label))
    me.state = .runnable
    tick += 1
    me.runnableSince = tick
    if await park(me, then: next) { throw ScenarioAbort() }
  }

  /// Hands the CPU to `target` if it can run, else to whichever other task the policy picks;
  /// returns at once when no other task can run.
  public func yield(to target: String?, at label: String) async throws {
    guard let me = current, !aborting else { throw ScenarioAbort() }
    steps += 1
    if steps > stepLimit { try await stopAtBound(me, label) }
    if let target {
      // A pinned switch goes to that task or nowhere.
      guard let t = tasks.first(where: { $0.name == target && $0.state == .runnable }) else {
        trace.append(.note("\(me.name): yield to \(target) at \(label): \(target) cannot run, no switch"))
        return
      }
      t.held = false
      trace.append(.switched(from: me.name, to: t.name, at: label))
      me.state = .runnable
      tick += 1
      me.runnableSince = tick
      if await park(me, then: t) { throw ScenarioAbort() }
      return
    }
    let others = runnableTasks(including: nil)
    guard !others.isEmpty else { return }
    var next = others[0]
    if others.count > 1 {
      let i = policy.choose(ScheduleChoice(point: label, current: nil, candidates: others.map(\.name), step: steps))
      next = others[i]
      choices.append(next.name)
      choiceCounts.append(others.count)
    }
    trace.append(.switched(from: me.name, to: next.name, at: label))
    me.state = .runnable
    tick += 1
    me.runnableSince = tick
    if await park(me, then: next) { throw ScenarioAbort() }
  }

  /// Parks the running task until `wake(key)`. `what` names the resource for hang reports
  /// (`page /a#3`). `idle` marks a worker waiting for work: not a hang when nothing else runs.
  /// - Throws: `ScenarioAbort` when the scenario is torn down while it waits.
  /// `external`: the wait is on far-side work (`ExternalCompletions`) rather than on another task.
  public func block(on key: WaitKey, what: @autoclosure () -> String, idle: Bool = false, external: Bool = false)
    async throws
  {
    guard let me = current, !aborting else { throw ScenarioAbort() }
    steps += 1
    if steps > stepLimit { try await stopAtBound(me, "block") }
    me.state = .blocked
    me.waitKey = key
    me.waitLabel = what()
    me.idleWait = idle
    me.externalWait = external
    if !idle { trace.append(.blocked(task: me.name, on: me.waitLabel)) }
    if await park(me, then: nil) { throw ScenarioAbort() }
  }

  /// Makes every task blocked on `key` runnable. Does not switch: the waker runs on.
  public func wake(_ key: WaitKey) {
    for t in tasks where t.state == .blocked && t.waitKey == key {
      t.state = .runnable
      t.waitKey = nil
      tick += 1
      t.runnableSince = tick
      if !t.idleWait && !t.externalWait { trace.append(.woken(task: t.name, by: current?.name ?? "-")) }
      t.idleWait = false
      t.externalWait = false
    }
  }

  /// True when some task is blocked on `key`.
  public func hasWaiters(_ key: WaitKey) -> Bool {
    tasks.contains { $0.state == .blocked && $0.waitKey == key }
  }

  /// Names of tasks blocked on `key` (not idle), in spawn order.
  public func waiters(_ key: WaitKey) -> [String] {
    tasks.filter { $0.state == .blocked && $0.waitKey == key }.map(\.name)
  }

  // MARK: Internals

  private func stopAtBound(_ me: SimTask, _ label: String) async throws {
    stop = .stepBound(steps: stepLimit)
    trace.append(.stopped("step bound \(stepLimit) reached at \(label) in \(me.name)"))
    me.state = .blocked
    me.waitLabel = "step bound"
    _ = await withUnsafeContinuation { me.cont = $0 }
    throw ScenarioAbort()
  }

  /// Runnable tasks in the order they became runnable, `me` (the running task) first if given.
  private func runnableTasks(including me: SimTask?) -> [SimTask] {
    var r = tasks.filter { $0.state == .runnable && !$0.held }
    r.sort { $0.runnableSince < $1.runnableSince }
    if let me { r.insert(me, at: 0) }
    return r
  }

  /// Parks `me`, then starts `next` (or the policy's pick when nil). Returns true if aborted.
  private func park(_ me: SimTask, then next: SimTask?) async -> Bool {
    await withUnsafeContinuation { c in
      me.cont = c
      current = nil
      if let next { resume(next) } else { dispatchNext(at: "block") }
    }
  }

  private func resume(_ t: SimTask) {
    t.state = .running
    current = t
    let c = t.cont!
    t.cont = nil
    c.resume(returning: false)
  }

  private func dispatchNext(at label: String) {
    if stop != nil || aborting { return }
    var runnable = runnableTasks(including: nil)
    if runnable.isEmpty, let held = tasks.first(where: { $0.state == .runnable && $0.held }) {
      // Nothing else can run: a held task's preemption will not come.
      held.held = false
      trace.append(.note("\(held.name): released (its preemption point was not reached)"))
      runnable = [held]
    }
    guard !runnable.isEmpty else {
      if tasks.contains(where: { $0.state == .starting }) {
        dispatchPending = true
      } else if external != nil && tasks.contains(where: { $0.state == .blocked && $0.externalWait }) {
        awaitingExternal = true
      } else {
        stop = classifyStop()
      }
      return
    }
    var i = 0
    if runnable.count > 1 {
      i = policy.choose(ScheduleChoice(point: label, current: nil, candidates: runnable.map(\.name), step: steps))
      choices.append(runnable[i].name)
      choiceCounts.append(runnable.count)
    }
    resume(runnable[i])
  }

  private func finish(_ t: SimTask) {
    t.state = .finished
    t.inOp = false
    if current === t { current = nil }
    if !aborting { dispatchNext(at: "finish \(t.name)") }
  }
}
