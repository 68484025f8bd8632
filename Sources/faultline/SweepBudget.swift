import FaultKit
import FaultReports
import Foundation

/// `--budget SECONDS`: the whole command's time, from its start: loading plans, computing the
/// space, running scenarios and making the reports. What the budget leaves undone is said and
/// the results are marked incomplete; what was done is written.
struct SweepBudget {
  let seconds: Double?
  /// Uptime nanoseconds at which the budget is spent (nil: no budget).
  let deadline: UInt64?

  init(seconds: Double?, from start: UInt64) {
    self.seconds = seconds
    deadline = seconds.map { start + UInt64(max(0, $0) * 1e9) }
  }

  var expired: Bool { deadline.map { DispatchTime.now().uptimeNanoseconds >= $0 } ?? false }

  /// `work`'s value, or nil when the budget is spent first. The work runs on a thread of its own
  /// (with a main thread's stack); left unfinished, it ends with the process.
  func within<T>(_ work: @escaping () throws -> T) throws -> T? {
    guard let deadline else { return try work() }
    let box = WorkBox(work)
    let thread = Thread { box.run() }
    thread.stackSize = 64 << 20
    thread.start()
    let now = DispatchTime.now().uptimeNanoseconds
    guard box.done.wait(timeout: DispatchTime(uptimeNanoseconds: max(now, deadline))) == .success else { return nil }
    return try box.result!.get()
  }
}

/// Work handed to another thread and its result, read after `done` is signalled.
private final class WorkBox<T>: @unchecked Sendable {
  let work: () throws -> T
  var result: Result<T, Error>?
  let done = DispatchSemaphore(value: 0)
  init(_ work: @escaping () throws -> T) { self.work = work }
  func run() {
    result = Result { try work() }
    done.signal()
  }
}

extension SweepCommand {
  /// The budget ran out while the space was being computed: nothing new ran. Writes what there
  /// is, marked incomplete: a new sweep's plans with no scenarios (and no journal to resume); a
  /// resume's journal, judged against the space its meta.json recorded.
  func reportOutOfBudget(
    _ plans: [Plan], configs: [SweepConfig], shard: Shard, inputs: SweepInputs, run: SweepRunDirectory,
    started: UInt64
  ) throws {
    var meta = SweepMeta(
      plans: plans.indices.map { i in
        SweepMeta.PlanEntry(
          file: plans[i].file, name: plans[i].name, engine: plans[i].engine, depth: configs[i].depth, space: 0)
      }, bugs: bugs.sorted(), shard: shard, inputs: inputs)
    var outcomes: [SweepOutcome] = []
    if resume != nil {
      let metaURL = run.reports.url.appendingPathComponent("meta.json")
      guard let data = try? Data(contentsOf: metaURL), let old = try? JSONDecoder().decode(SweepMeta.self, from: data)
      else { throw BadInput(description: "--resume \(run.reports.path): its meta.json is not a sweep's") }
      // Only what can be known without the space: the same inputs, plans, bugs and shard.
      let changed = meta.mismatches(
        SweepMeta(
          plans: old.plans.map {
            SweepMeta.PlanEntry(file: $0.file, name: $0.name, engine: $0.engine, depth: $0.depth, space: 0)
          }, bugs: old.bugs, shard: old.shard, inputs: old.inputs))
      guard changed.isEmpty || changed.allSatisfy({ $0.hasPrefix("its space differs") }) else {
        throw BadInput(
          description: "--resume \(run.reports.path): not the sweep that was started there: "
            + changed.joined(separator: "; "))
      }
      meta = old
      outcomes = SweepJournal.read(run.reports.url.appendingPathComponent("journal.jsonl"))
      try run.reports.removeStale(journal: false)
    } else {
      try run.reports.removeStale(journal: true)
    }
    say(
      "budget of \(seconds(budget!))s ran out while the sweep's space was computed: "
        + (resume == nil
          ? "no scenario ran (a larger --budget, or fewer plans)"
          : "no more scenarios ran; the \(outcomes.count) in the journal are reported"))
    var results = RunResults(
      command: "sweep", bugs: meta.bugs, shard: shard, complete: false,
      plans: SweepDriver.reports(meta: meta, outcomes: outcomes), catalogs: catalogs())
    results.complete = false
    results.engineOptions = plugins.engineOptions
    let features = engineFeatures(plans)
    results.features = features.isEmpty ? nil : features
    let timings = RunTimings(
      wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, jobs: inProcess ? 0 : workers,
      plans: plans.map { ($0.name, $0.file) }, outcomes: outcomes)
    try run.reports.write("timings.json", try JSONEncoder.sorted.encode(timings))
    // Past the budget: reports without re-runs or shrinking.
    try finishReports(results, plans: plans, dir: run.reports, deadline: 0)
  }
}

/// Seconds as written on the command line (`20`, not `20.0`).
func seconds(_ s: Double) -> String {
  s == s.rounded() && abs(s) < 1e15 ? String(Int(s)) : String(s)
}
