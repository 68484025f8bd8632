import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

struct Replay: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Re-run a repro plan and show its violation, the diff and the trace around the fault.")

  @OptionGroup var plugins: PluginOptions

  @Argument(help: "A repro plan (or any plan).")
  var repro: String

  @Option(help: "Seconds the engine may take before it is killed and the replay reported as timed out.")
  var timeout: Double = 60

  @Flag(help: "Run the engine in this process instead (a crash or hang takes faultline with it).")
  var inProcess = false

  func run() throws {
    try plugins.activate()
    guard timeout > 0 else {
      throw BadInput(description: "--timeout \(timeout): expected a positive number of seconds")
    }
    let plans = try loadPlans([repro])
    let runner = ScenarioRunner(registry: FaultlineEngines.registry)
    var slot = WorkerSlot(timeoutSeconds: timeout, inheritOutput: true)
    defer { slot.close() }
    var failed = false
    for plan in plans {
      let r: ScenarioResult
      if inProcess {
        do { r = try runner.run(plan) } catch let e as SetupError { throw BadInput(description: e.description) }
      } else {
        // In a worker: a crash or a hang is reported, with the time limit, not shared.
        let attempt: WorkerSlot.Attempt<ScenarioResult>
        do {
          attempt = try slot.attempt(try WorkerRequest(kind: .replay, plan: plan.file).encoded()) { data in
            try JSONDecoder().decode(ScenarioResult.self, from: WorkerReportedError.check(data))
          }
        } catch { throw IsolationError.badInput(error) }
        switch attempt {
        case .answer(let answered): r = answered
        case .crashed(let d):
          print("CRASHED \(plan.file): the engine crashed (\(d.description))")
          failed = true
          continue
        case .timedOut:
          print("TIMED OUT \(plan.file): no answer within \(timeout)s; the engine was killed")
          failed = true
          continue
        }
      }
      let command = ReproCommand(engineOptions: plugins.engineOptions ?? [])
      print(TextReport.render(r, reproduce: command.replay(file: plan.file)), terminator: "")
      failed = failed || !r.passed
    }
    if failed { throw ExitCode(ExitStatus.failed) }
  }
}
