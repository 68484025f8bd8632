import FaultKit
import Foundation

/// Runs sweep scenarios in worker processes, one scenario at a time each, `jobs` at once (one
/// thread per job; the sweep passes no more jobs than cores). A worker that dies costs the scenario it was running,
/// recorded as crashed with what ended it; one that does not answer within the timeout is killed
/// and its scenario recorded as timed out. Either is confirmed once in a fresh worker first; one
/// that does not happen again is recorded as flaky, with both outcomes. A plan of an engine that
/// is not deterministic has each failure, crash or timeout run `reruns` more times, counting how
/// often it ended the same way (`SweepOutcome.withReruns`). `WorkerSlot` has the
/// rest of the rules (workers that die between scenarios, workers killed from outside).
final class WorkerPool: ScenarioExecutor, @unchecked Sendable {
  let jobs: Int
  let timeoutSeconds: Double
  /// Plan file → how many times a failure of it runs again: `--reruns` for plans of an engine
  /// that is not deterministic; absent for the rest (a crash or timeout is confirmed once).
  let reruns: [String: Int]
  private let lock = NSCondition()
  private var queue = ScenarioQueue([])
  /// The order scenarios start in (nil: `ScenarioQueue`'s choice).
  var order: ScenarioQueue.Order?
  private var inFlight = 0
  private var running = 0
  private var failure: Error?
  /// Set when the callback asked to stop: nothing more is started.
  private var stopped = false
  /// Scenarios handed out so far; each is numbered by when it started.
  private var started = 0
  /// Children of finished scenarios, by start number, not yet added to the queue; and the start
  /// number whose children are added next. When scenarios can have children (depth 2, schedule
  /// exploration), children join the queue in start order, and the k-th scenario is chosen from
  /// the children of exactly the first k - (2 jobs - 2) started (waiting for them if need be;
  /// the slack lets a worker start while the others' scenarios run): which scenarios run, and in
  /// what order, then depends on the outcomes alone, never on which worker finished first. Only
  /// the budget's cut is the clock's. Without children the order is the initial one anyway and
  /// nothing waits.
  private var unreleased: [Int: (more: [SweepScenario], parent: SweepScenario, state: String?)] = [:]
  private var released = 0
  /// Scenarios may have children: the order waits for them as above.
  private var ordered = false

  init(jobs: Int, timeoutSeconds: Double, reruns: [String: Int] = [:]) {
    self.jobs = jobs
    self.timeoutSeconds = timeoutSeconds
    self.reruns = reruns
  }

  func run(_ initial: [SweepScenario], onOutcome: (SweepOutcome) -> [SweepScenario]?) throws {
    queue = ScenarioQueue(initial, order: order)
    (started, released, unreleased) = (0, 0, [:])
    ordered = initial.contains { $0.expand != nil || $0.delayBound != nil || $0.child >= 0 }
    withoutActuallyEscaping(onOutcome) { callback in
      let box = CallbackBox(callback)
      lock.lock()
      running = jobs
      lock.unlock()
      for n in 0..<jobs {
        let thread = Thread { [self] in
          do { try workerLoop(box.call) } catch {
            lock.lock()
            failure = failure ?? error
            lock.unlock()
          }
          lock.lock()
          running -= 1
          lock.broadcast()
          lock.unlock()
        }
        thread.name = "faultline-job-\(n)"
        thread.start()
      }
      // Each job's waits are bounded (the timeout), so this one is.
      lock.lock()
      while running > 0 { lock.wait() }
      lock.unlock()
      // The threads' closures may outlive this call; the callback must not.
      box.release()
    }
    if let failure { throw IsolationError.badInput(failure) }
  }

  /// Takes the next scenario and its start number, waiting while others may still add children;
  /// nil when all is done.
  private func take() -> (SweepScenario, Int)? {
    lock.lock()
    defer { lock.unlock() }
    // Each wait ends when a scenario in flight finishes (bounded by the timeout) or the sweep stops.
    while failure == nil && !stopped {
      // Another worker may have started one while this one waited: the decision is for the
      // scenario `started` numbers now.
      let need = ordered ? max(0, started - 2 * jobs + 2) : 0
      releaseInOrder(upTo: need)
      if released < need {
        lock.wait()
        continue
      }
      guard queue.isEmpty && released < started else { break }
      // Nothing to run yet: the next started scenario's children, when it finishes.
      if unreleased[released] == nil {
        lock.wait()
      } else {
        releaseInOrder(upTo: released + 1)
      }
    }
    guard failure == nil, !stopped, let sc = queue.take() else { return nil }
    inFlight += 1
    started += 1
    return (sc, started - 1)
  }

  /// Adds the children of finished scenarios to the queue, in start order, up to start `end`.
  private func releaseInOrder(upTo end: Int) {
    while released < end, let r = unreleased.removeValue(forKey: released) {
      queue.add(r.more, after: r.parent, state: r.state)
      released += 1
    }
  }

  private func finish(_ o: SweepOutcome, seq: Int, _ callback: (SweepOutcome) -> [SweepScenario]?) {
    lock.lock()
    if let more = callback(o) {
      unreleased[seq] = (more, o.scenario, o.state)
    } else {
      stopped = true
    }
    inFlight -= 1
    lock.broadcast()
    lock.unlock()
  }

  private func workerLoop(_ callback: (SweepOutcome) -> [SweepScenario]?) throws {
    var slot = WorkerSlot(timeoutSeconds: timeoutSeconds)
    defer { slot.close() }
    let decoder = JSONDecoder()
    while let (sc, seq) = take() {
      let confirmed: WorkerSlot.Confirmed<SweepOutcome>
      let reruns = self.reruns[sc.plan] ?? 0
      do {
        confirmed = try slot.confirmed(try WorkerRequest.scenario(sc).encoded(), reruns: reruns, rerun: \.rerunnable) {
          data in
          let answer = try WorkerReportedError.check(data)
          var o = try decoder.decode(SweepOutcome.self, from: answer)
          o.encoded = answer
          return o
        }
      } catch {
        // Nothing more starts; the scenario taken is not finished (it is not journaled).
        lock.lock()
        failure = failure ?? error
        inFlight -= 1
        lock.broadcast()
        lock.unlock()
        return
      }
      finish(Self.outcome(sc, confirmed, timeoutSeconds: timeoutSeconds, reruns: reruns), seq: seq, callback)
    }
  }

  /// A scenario's outcome from its attempts: the answer; or the crash or timeout, confirmed by a
  /// second run in a fresh worker (the same cause again), or flaky (the second run ended
  /// otherwise; the detail says how). With `reruns` (an engine that is not deterministic), a
  /// failure or crash carries how many of its reruns ended the same way; none: flaky.
  static func outcome(
    _ sc: SweepScenario, _ c: WorkerSlot.Confirmed<SweepOutcome>, timeoutSeconds: Double, reruns: Int = 0
  ) -> SweepOutcome {
    var o: SweepOutcome
    switch c.first {
    case .answer(let answered):
      guard reruns > 0, !c.reruns.isEmpty else { return answered }
      return answered.withReruns(
        c.reruns.map { a in
          switch a {
          case .answer(let b): answered.isReproduced(by: b) ? nil : b.endWords
          case .crashed(let d): "crashed (\(d.description))"
          case .timedOut: "timed out (no answer within \(timeoutSeconds)s)"
          }
        })
    case .crashed(let d):
      o = SweepOutcome(scenario: sc, kind: .crashed, detail: d.description)
      o.cause = d.cause
    case .timedOut:
      o = SweepOutcome(scenario: sc, kind: .timedOut, detail: "no answer within \(timeoutSeconds)s")
    }
    let ends: [String?] = c.reruns.map { again in
      switch again {
      case .crashed(let d) where d.cause == o.cause && o.kind == .crashed: nil
      case .timedOut where o.kind == .timedOut: nil
      case .crashed(let d): d.description
      case .timedOut: "timed out (no answer within \(timeoutSeconds)s)"
      case .answer(let a):
        a.unjudged == true ? "was unjudged" : a.failed ? "failed (\(a.signature))" : "passed"
      }
    }
    if reruns > 0 {
      if !ends.isEmpty && ends.allSatisfy({ $0 != nil }) {
        let cause = o.cause
        o = SweepOutcome(
          scenario: sc, kind: o.kind,
          detail: (o.detail ?? "") + "; run again \(ends.count) time(s) in fresh workers, it never did so again")
        o.cause = cause
      }
      return o.withReruns(ends)
    }
    guard let first = ends.first, let second = first else { return o }
    o = SweepOutcome(
      scenario: sc, kind: o.kind, detail: (o.detail ?? "") + "; run again in a fresh worker, it " + second)
    o.cause = c.first.cause
    o.flaky = true
    return o
  }
}

extension WorkerSlot.Attempt {
  /// What ended the worker, for a crash.
  var cause: String? { if case .crashed(let d) = self { d.cause } else { nil } }
}

/// The outcome callback, handed to the job threads; they call it under the pool's lock only.
private final class CallbackBox: @unchecked Sendable {
  private var callback: ((SweepOutcome) -> [SweepScenario]?)?
  init(_ call: @escaping (SweepOutcome) -> [SweepScenario]?) { callback = call }
  func call(_ o: SweepOutcome) -> [SweepScenario]? { callback!(o) }
  func release() { callback = nil }
}

/// Errors of worker processes that end a sweep: a worker that cannot start, a worker that says
/// the request is bad input. Both are bad input of the sweep (exit 2).
enum IsolationError {
  static func badInput(_ error: Error) -> Error {
    switch error {
    case let e as WorkerStartFailure: BadInput(description: e.description)
    case let e as WorkerReportedError: BadInput(description: e.description)
    default: error
    }
  }
}
