import Foundation

/// Error-handler coverage as explore's signal: the error-handling sites of the plan's engine
/// (`ErrorHandlerInventory`) that a sweep with `--error-coverage` executed, read from the
/// sweep's results.json (`errorCoverage`, by engine), each item `handler FILE:LINE:COLUMN`.
///
/// Checks: the handler ids the sweep's coverage counters saw run. Does not check: which plan of a
/// sweep ran them (the counters are per engine), so explore sweeps one plan at a time with this
/// signal (`wholeSweep`); an engine the sweep could not measure (the linux engine, plugins) or a
/// sweep without `errorCoverage` gives no items, never a guess.
public struct ErrorHandlerSignal: CoverageSignal {
  public init() {}
  public var name: String { "error-handlers" }
  public var sweepArguments: [String] { ["--error-coverage"] }
  public var wholeSweep: Bool { true }

  public func items(of plan: PlanResults, runDirectory: String) -> Set<String> {
    guard let data = FileManager.default.contents(atPath: runDirectory + "/results.json"),
      let run = try? JSONDecoder().decode(RunResults.self, from: data),
      let engine = run.errorCoverage?.first(where: { $0.engine == plan.engine && $0.measured })
    else { return [] }
    return Set(engine.reachedIDs.map { "handler \($0)" })
  }
}
