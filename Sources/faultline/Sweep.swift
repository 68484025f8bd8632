import ArgumentParser
import BuiltinEngines
import FaultKit
import FaultReports
import Foundation

struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract:
      "Place a fault at every hit of every point each plan reaches; report each distinct failure once, with a repro plan."
  )

  @Argument(help: "Plan files or directories of plans.")
  var paths: [String]

  @Option(name: .customLong("bug"), help: "Switch a historical bug of the engine on (repeatable).")
  var bugs: [String] = []

  @Option(help: "1: one fault per scenario; 2: pairs (overrides the plans' sweep: depth).")
  var depth: Int?

  @Option(
    name: .customLong("points"),
    help: "Only points matching this glob (repeatable; overrides the plans' sweep: points).")
  var pointGlobs: [String] = []

  @Option(help: "Stop each plan's sweep after this many scenarios.")
  var maxScenarios: Int?

  @Option(help: "Where to write sweep.json and repro/*.yaml.")
  var reportDir = "Reports/sweep"

  @Flag(help: "No progress lines.")
  var quiet = false

  func run() throws {
    if let depth, !(1...2).contains(depth) { throw BadInput(description: "--depth \(depth): expected 1 or 2") }
    let plans = try loadPlans(paths)
    let sweeper = Sweeper(registry: BuiltinEngines.registry)
    var reports: [SweepReport] = []
    var repros: [(String, String)] = []
    for plan in plans {
      var config = SweepConfig(plan: plan)
      if let depth { config.depth = depth }
      if !pointGlobs.isEmpty { config.points = pointGlobs }
      let known = BuiltinEngines.registry.descriptor(named: plan.engine)!.bugs.map(\.name)
      for b in bugs where !known.contains(b) {
        throw BadInput(description: "--bug \(b): engine \(plan.engine) has no such bug switch")
      }
      let report: SweepReport
      do {
        let (_, first) = try sweeper.space(plan, config, bugs: bugs)
        if !quiet {
          print(
            "sweep \(plan.name): \(first.count) depth-1 scenarios (points \(config.points.joined(separator: ", ")), depth \(config.depth))"
          )
        }
        var lastShown = 0
        report = try sweeper.sweep(plan, config, bugs: bugs, limit: maxScenarios) { done, total in
          if !quiet && (done - lastShown >= 500 || done == total) {
            lastShown = done
            print("  \(done)/\(total) scenarios")
          }
        }
      } catch let e as SetupError {
        throw BadInput(description: e.description)
      }
      reports.append(report)
      for (i, f) in report.failures.enumerated() {
        var repro = plan
        repro.name = "\(plan.name)-repro-\(i + 1)"
        repro.about = "Repro of a sweep failure of \(plan.name) (\(plan.file)): \(f.signature)"
        repro.faults = f.placements.map(\.spec)
        repro.bugs = Array(Set(plan.bugs + bugs)).sorted()
        repro.expect = Expectations(invariants: plan.expect.invariants)
        repro.catches = []
        repro.sweep = nil
        repros.append(("repro/\(repro.name).yaml", PlanWriter.yaml(repro)))
      }
    }
    try writeAtomically(reportDir, "sweep.json", try JSONReport.encodeSweeps(reports))
    for (name, text) in repros { try writeAtomically(reportDir, name, Data(text.utf8)) }
    var total = 0
    for r in reports {
      print(
        "\(r.plan): \(r.ran) scenarios, \(r.ran - r.failed) passed, \(r.failed) failed, \(r.failures.count) distinct failure(s)"
      )
      for (i, f) in r.failures.enumerated() {
        print("  \(f.count)x \(f.signature)")
        print(
          "     first: \(f.placements.map(\.description).joined(separator: " + ")); repro: \(reportDir)/repro/\(r.plan)-repro-\(i + 1).yaml"
        )
      }
      total += r.failures.count
    }
    print("\(reports.reduce(0) { $0 + $1.ran - $1.failed }) passed, \(reports.reduce(0) { $0 + $1.failed }) failed")
    if total > 0 { throw ExitCode(ExitStatus.failed) }
  }
}

struct Replay: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Re-run a repro plan and show its violation, the diff and the trace around the fault.")

  @Argument(help: "A repro plan (or any plan).")
  var repro: String

  func run() throws {
    let plans = try loadPlans([repro])
    let runner = ScenarioRunner(registry: BuiltinEngines.registry)
    var failed = false
    for plan in plans {
      let r: ScenarioResult
      do { r = try runner.run(plan) } catch let e as SetupError { throw BadInput(description: e.description) }
      print(TextReport.render(r), terminator: "")
      failed = failed || !r.passed
    }
    if failed { throw ExitCode(ExitStatus.failed) }
  }
}

/// Writes `dir/name` through a temporary file and a rename: a crash never leaves half a file.
func writeAtomically(_ dir: String, _ name: String, _ data: Data) throws {
  let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
  try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
  let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
  try data.write(to: tmp)
  guard rename(tmp.path, url.path) == 0 else {
    let e = errno
    try? FileManager.default.removeItem(at: tmp)
    throw BadInput(description: "\(url.path): cannot write (\(String(cString: strerror(e))))")
  }
}
