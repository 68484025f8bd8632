import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

/// Runs the engine calls a sweep makes outside its scenarios in worker processes, with the
/// sweep's timeout: the fault-free recording runs that make the space, the re-runs of the report
/// phase that fetch a failure's snapshots, and shrinking. A crash or a hang there costs that
/// call, never the sweep: a plan whose recording run does not end is a result of its own, a
/// failure whose snapshots cannot be had is kept without pictures, and one that cannot be shrunk
/// keeps its repro as found.
struct EngineIsolation: Sendable {
  let jobs: Int
  let timeoutSeconds: Double

  /// For commands without `--jobs` and `--timeout` (`report --merge`).
  static let standard = EngineIsolation(jobs: 1, timeoutSeconds: 60)

  /// Runs each request in a worker, `jobs` at once; answers in the requests' order. With
  /// `confirm`, a request that crashed or timed out runs once more in a fresh worker.
  func run<T: Sendable>(
    _ requests: [Data], heartbeat: Bool = false, confirm: Bool,
    decode: @escaping @Sendable (Data) throws -> T
  ) throws -> [WorkerSlot.Confirmed<T>] {
    guard !requests.isEmpty else { return [] }
    let batch = Batch<T>(count: requests.count)
    let threads = min(jobs, requests.count)
    let timeout = timeoutSeconds
    for n in 0..<threads {
      let thread = Thread {
        defer { batch.threadEnded() }
        var slot = WorkerSlot(timeoutSeconds: timeout)
        defer { slot.close() }
        while let i = batch.take() {
          do {
            let c =
              confirm
              ? try slot.confirmed(requests[i], heartbeat: heartbeat, decode: decode)
              : WorkerSlot.Confirmed(
                first: try slot.attempt(requests[i], heartbeat: heartbeat, decode: decode), again: nil)
            batch.put(i, c)
          } catch {
            batch.fail(error)
            return
          }
        }
      }
      thread.name = "faultline-isolation-\(n)"
      thread.start()
    }
    return try batch.wait(threads: threads)
  }

  // MARK: The sweep's calls

  /// Each plan's fault-free recording run, in a worker. One that crashed or hung twice (the
  /// second time in a fresh worker) is `.failed`; one that did once only is `.flaky`: the second
  /// run's space, and the first run's end recorded as a flaky failure (as the pool records a
  /// scenario's).
  func record(_ plans: [Plan], configs: [SweepConfig], bugs: [String]) throws -> [Recording] {
    let requests = try zip(plans, configs).map { p, c in
      try WorkerRequest(kind: .record, plan: p.file, config: c, bugs: bugs).encoded()
    }
    let answers = try run(requests, confirm: true) { data in
      try JSONDecoder().decode(Recording.self, from: WorkerReportedError.check(data))
    }
    return zip(plans, answers).map { plan, c in
      if case .answer(let r) = c.first { return r }
      let first = describe(c.first)
      if case .answer(let r) = c.again, case .recorded(let placements, _, let reached) = r {
        return .flaky(
          recorded: placements, reached: reached, kind: first.kind, cause: first.cause,
          detail: "the fault-free recording run \(first.detail); run again in a fresh worker, it ended")
      }
      var detail = "the fault-free recording run \(first.detail)"
      if let again = c.again.map(describe), again.detail != first.detail {
        detail += "; run again in a fresh worker, it \(again.detail)"
      }
      return .failed(kind: first.kind, cause: first.cause, detail: detail)
    }
  }

  /// Each group's first scenario run again for its snapshots; a crash or hang leaves the group
  /// without them and says so.
  func snapshots(_ groups: [(plan: Plan, bugs: [String], group: FailureGroup)]) throws -> [FailureGroup] {
    let requests = try groups.map { g in
      try WorkerRequest(kind: .snapshots, plan: g.plan.file, bugs: g.bugs, failure: g.group.withoutSnapshots)
        .encoded()
    }
    let answers = try run(requests, confirm: false) { data in
      try JSONDecoder().decode(SnapshotsAnswer.self, from: WorkerReportedError.check(data))
    }
    return zip(groups, answers).map { g, c in
      var group = g.group
      switch c.first {
      case .answer(let a):
        if let baseline = a.baseline, let atRest = a.atRest, var r = group.result {
          r.baseline = baseline
          r.atRest = atRest
          group.result = r
        }
      case .crashed, .timedOut:
        group.noSnapshots = "its first scenario, run again for them, \(describe(c.first).detail)"
      }
      return group
    }
  }

  /// Each failure's repro plan, shrunk in a worker when the failure was judged (nothing is tried
  /// after `deadline`); a crash or hang while shrinking keeps the repro as found and says so.
  func repros(_ failures: [(plan: Plan, bugs: [String], group: FailureGroup, number: Int)], deadline: UInt64? = nil)
    throws -> [Repro]
  {
    let judged = failures.indices.filter { failures[$0].group.kind == .judged }
    let requests = try judged.map { i in
      let f = failures[i]
      return try WorkerRequest(
        kind: .shrink, plan: f.plan.file, bugs: f.bugs, failure: f.group.withoutSnapshots, number: f.number,
        deadline: deadline
      ).encoded()
    }
    let answers = try run(requests, heartbeat: true, confirm: false) { data in
      try JSONDecoder().decode(ShrinkAnswer.self, from: WorkerReportedError.check(data))
    }
    var shrunk: [Int: Repro] = [:]
    var notShrunk: [Int: String] = [:]
    for (i, c) in zip(judged, answers) {
      switch c.first {
      case .answer(let a):
        shrunk[i] = Repro(
          name: a.name, yaml: a.yaml,
          shrunk: a.shrunk.map {
            "\($0[0]) ops to \($0[1]) in \($0[2]) runs" + (a.finished ? "" : " (the budget cut it short)")
          })
      case .crashed, .timedOut:
        notShrunk[i] = "shrinking it, the engine \(describe(c.first).detail)"
      }
    }
    // The repro as found, only where no worker made one.
    return failures.indices.map { i in
      if let r = shrunk[i] { return r }
      let f = failures[i]
      var r = Repro(
        made: SweepRepro.make(f.plan, f.group, number: f.number, bugs: f.bugs, registry: registry, shrink: false))
      r.notShrunk = notShrunk[i]
      return r
    }
  }

  private var registry: EngineRegistry { FaultlineEngines.registry }

  /// A failed attempt in words: `crashed (killed by SIGSEGV …)`, `hung (no answer within 60.0s)`.
  func describe<T>(_ a: WorkerSlot.Attempt<T>) -> (kind: SweepOutcome.Kind, cause: String?, detail: String) {
    switch a {
    case .answer: (.judged, nil, "ended")
    case .crashed(let d): (.crashed, d.cause, "crashed (\(d.description))")
    case .timedOut: (.timedOut, nil, "hung (no answer within \(timeoutSeconds)s)")
    }
  }
}

/// A repro plan to write: its name and YAML, and how it was shrunk or why not.
struct Repro: Sendable {
  var name: String
  var yaml: String
  var shrunk: String?
  var notShrunk: String?

  init(name: String, yaml: String, shrunk: String?) {
    self.name = name
    self.yaml = yaml
    self.shrunk = shrunk
  }

  init(made: SweepRepro.Made) {
    self.init(
      name: made.plan.name, yaml: PlanWriter.yaml(made.plan),
      shrunk: made.shrunk.map {
        "\($0.before) ops to \($0.after) in \($0.runs) runs" + (made.finished ? "" : " (the budget cut it short)")
      })
  }
}

extension FailureGroup {
  /// The group without its snapshots: what a worker needs to run it again.
  var withoutSnapshots: FailureGroup {
    var g = self
    g.result?.baseline = nil
    g.result?.atRest = nil
    return g
  }
}

/// A batch's answers, filled by its threads.
private final class Batch<T: Sendable>: @unchecked Sendable {
  private let condition = NSCondition()
  private var answers: [WorkerSlot.Confirmed<T>?]
  private var next = 0
  private var done = 0
  private var failure: Error?

  init(count: Int) { answers = Array(repeating: nil, count: count) }

  func take() -> Int? {
    condition.lock()
    defer { condition.unlock() }
    guard failure == nil, next < answers.count else { return nil }
    next += 1
    return next - 1
  }

  func put(_ i: Int, _ c: WorkerSlot.Confirmed<T>) {
    condition.lock()
    answers[i] = c
    condition.unlock()
  }

  func fail(_ error: Error) {
    condition.lock()
    failure = failure ?? error
    condition.unlock()
  }

  /// Waits for the threads to end (each one's waits are bounded by the timeout).
  func wait(threads: Int) throws -> [WorkerSlot.Confirmed<T>] {
    condition.lock()
    defer { condition.unlock() }
    while done < threads { condition.wait() }
    if let failure { throw IsolationError.badInput(failure) }
    return answers.map { $0! }
  }

  func threadEnded() {
    condition.lock()
    done += 1
    condition.broadcast()
    condition.unlock()
  }
}
