import FaultKit
import FaultlineEngines
import Foundation
import Testing

/// A sweep's results made from its outcomes one at a time, in any order, with each scenario's
/// line sorted in bounded memory (spilled to files in small runs here) and streamed into
/// results.json: the same bytes as the results held whole and encoded at once.
@Suite("Sweep results, streamed")
struct SweepStreamTests {
  @Test("streamed results.json equals the results encoded whole, whatever the order and the runs spilled")
  func streamedEqualsWhole() throws {
    let files = ["btrfs/cow-enospc-second-iteration.yaml", "btrfs/write-fsync.yaml", "xfs/writeback-eio.yaml"]
    let plans = try files.map { f in try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix(f) })) }
    // Depth 2 on the first (children are scenarios of their own), depth 1 on the others.
    let configs = [SweepConfig(points: ["alloc.*"], depth: 2), SweepConfig(points: ["*"]), SweepConfig(points: ["*"])]
    let bugs = ["cow-error-leaves-pages-locked"]
    let driver = SweepDriver(registry: Corpus.registry)
    let (space, pruned, reached, _) = try driver.space(plans, configs: configs, bugs: bugs)
    var outcomes: [SweepOutcome] = []
    try InProcessExecutor(registry: Corpus.registry).run(space.flatMap { $0 }) {
      outcomes.append($0)
      return driver.children(of: $0)
    }
    // Enough scenarios that the spill below makes several runs, children among them, failures too.
    #expect(outcomes.count > 100, "\(outcomes.count) scenarios")
    #expect(outcomes.contains { $0.scenario.child >= 0 } && outcomes.contains(where: \.failed))
    let meta = SweepMeta(
      plans: plans.indices.map {
        SweepMeta.PlanEntry(
          file: plans[$0].file, name: plans[$0].name, engine: plans[$0].engine, depth: configs[$0].depth,
          space: space[$0].count,
          pruned: pruned[$0], reached: reached[$0])
      }, bugs: bugs, shard: .all)
    var catalogs: [String: [FaultPoint]] = [:]
    for e in Corpus.registry.all { catalogs[e.name] = e.catalog.points }
    let whole = try RunResults(
      command: "sweep", bugs: bugs, plans: SweepDriver.reports(meta: meta, outcomes: outcomes), catalogs: catalogs
    ).encoded()

    let spill = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-stream-\(getpid())")
    try FileManager.default.createDirectory(at: spill, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: spill) }
    // Reversed, then every third first: no order the journal could have matters.
    let shuffled = outcomes.reversed().enumerated().sorted { ($0.offset % 3, $0.offset) < ($1.offset % 3, $1.offset) }
    for chunk in [7, 50, 1 << 20] {
      var builder = SweepReportBuilder(meta: meta, catalogs: catalogs, spill: spill, chunk: chunk)
      for (_, o) in shuffled { try builder.add(o) }
      let results = RunResults(command: "sweep", bugs: bugs, plans: builder.finish().plans, catalogs: catalogs)
      #expect(results.scenarios == outcomes.count)
      var streamed = Data()
      try results.write(lines: builder.lines) { streamed.append($0) }
      #expect(streamed == whole, "chunk \(chunk)")
    }
    #expect((try FileManager.default.contentsOfDirectory(atPath: spill.path)).isEmpty, "spilled runs have no names")
  }
}
