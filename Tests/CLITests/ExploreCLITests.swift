import FaultKit
import FaultReports
import FaultlineEngines
import Foundation
import Testing

@testable import faultline

/// `faultline explore` as a user runs it: generated plans swept, the same seed giving the same
/// plans, results and corpus byte for byte, resumption, the corpus reaching what the run reached,
/// and bad arguments refused with status 2. Tiny budgets (`--max-plans`) keep it to seconds.
@Suite(.serialized) struct ExploreCLITests {
  static func scratch(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "faultline-explore-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: url)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Every file under `dir` (relative path → bytes), less the sweeps' own directories (their
  /// timings and journals hold wall time and absolute paths).
  static func files(_ dir: URL, skippingSweeps: Bool = true) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let base = dir.standardizedFileURL.path
    guard let e = FileManager.default.enumerator(atPath: base) else { return out }
    for case let rel as String in e {
      if skippingSweeps && (rel.contains("/sweep/") || rel.hasSuffix("/sweep") || rel.hasSuffix("sweep.log")) {
        continue
      }
      var isDir: ObjCBool = false
      guard FileManager.default.fileExists(atPath: base + "/" + rel, isDirectory: &isDir), !isDir.boolValue else {
        continue
      }
      if rel.hasPrefix(".") || rel.contains("/.") { continue }
      out[rel] = try Data(contentsOf: URL(fileURLWithPath: base + "/" + rel))
    }
    return out
  }

  static let small = ["--engine", "btrfs-model", "--length", "1", "--batch", "2", "--jobs", "1", "--quiet"]

  @Test func theSameSeedGivesTheSamePlansResultsAndCorpus() throws {
    let root = try Self.scratch("determinism")
    defer { try? FileManager.default.removeItem(at: root) }
    var outputs: [[String: Data]] = []
    var statuses: [Int32] = []
    for run in ["a", "b"] {
      let dir = root.appendingPathComponent(run)
      let r = try CLI.run(
        ["explore"] + Self.small + [
          "--seed", "5", "--max-plans", "5", "--shard", "0/50", "--report-dir", dir.path, "--corpus",
          dir.appendingPathComponent("corpus").path,
        ])
      // 1 when a generated plan found a failure: either way, the same in both runs.
      #expect(r.status == 0 || r.status == 1, "\(r.stdout)\(r.stderr)")
      statuses.append(r.status)
      outputs.append(try Self.files(dir))
    }
    #expect(statuses[0] == statuses[1])
    #expect(outputs[0].keys.sorted() == outputs[1].keys.sorted())
    for k in outputs[0].keys.sorted() { #expect(outputs[0][k] == outputs[1][k], "\(k) differs between two runs") }
    #expect(outputs[0]["explore.json"] != nil)
    #expect(outputs[0].keys.contains { $0.hasPrefix("corpus/") })
    // Shard 0/50 owns 3 of the 132 systematic workloads (22 templates alone from 6 setups): 2,
    // then 1, then mutation takes over.
    #expect(outputs[0].keys.filter { $0.hasPrefix("g0002/plans/") }.count == 1)
    let state = try JSONDecoder().decode(
      ExploreState.self, from: try #require(outputs[0]["explore-state.json"]))
    #expect(state.generations.map(\.phase) == ["systematic", "systematic", "guided"])
    #expect(state.generations.map(\.plans) == [2, 1, 2])
    // The sweeps' results agree too (absolute paths aside).
    func results(_ run: String) throws -> String {
      let url = root.appendingPathComponent("\(run)/g0001/sweep/results.json")
      return try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: root.path + "/\(run)", with: "")
    }
    #expect(try results("a") == results("b"))
  }

  @Test func aResumedExplorationEndsWhereAStraightOneDoes() throws {
    let root = try Self.scratch("resume")
    defer { try? FileManager.default.removeItem(at: root) }
    let straight = root.appendingPathComponent("straight")
    let split = root.appendingPathComponent("split")
    var r = try CLI.run(["explore"] + Self.small + ["--max-plans", "4", "--report-dir", straight.path])
    #expect(r.status == 0, "\(r.stderr)")
    r = try CLI.run(["explore"] + Self.small + ["--max-plans", "2", "--report-dir", split.path])
    #expect(r.status == 0, "\(r.stderr)")
    r = try CLI.run(["explore", "--resume", split.path, "--max-plans", "2", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("2 in all (4 plans"), "\(r.stdout)")
    let a = try Self.files(straight)
    let b = try Self.files(split)
    #expect(a["explore.json"] == b["explore.json"])
    #expect(a["explore-state.json"] == b["explore-state.json"])
  }

  @Test func theCorpusReachesEverythingTheExplorationReachedAndStaysInBounds() throws {
    let root = try Self.scratch("corpus")
    defer { try? FileManager.default.removeItem(at: root) }
    let dir = root.appendingPathComponent("x")
    let corpus = root.appendingPathComponent("corpus")
    let r = try CLI.run(
      ["explore", "--engine", "xfs-model", "--length", "1", "--batch", "4", "--max-plans", "8", "--quiet"]
        + ["--report-dir", dir.path, "--corpus", corpus.path])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    let state = try JSONDecoder().decode(
      ExploreState.self, from: Data(contentsOf: dir.appendingPathComponent("explore-state.json")))
    #expect(state.plansRun == 8)
    #expect(!state.reached.isEmpty)
    // Every generated plan loads and keeps to the bounds: at most 6 operations, 1 or 2 tasks.
    let v = try CLI.run([
      "validate", dir.appendingPathComponent("g0001/plans").path, dir.appendingPathComponent("g0002/plans").path,
    ])
    #expect(v.status == 0, "\(v.stderr)")
    for (name, data) in try Self.files(dir) where name.hasSuffix(".yaml") && name.contains("/plans/") {
      let text = String(decoding: data, as: UTF8.self)
      let ops = text.split(separator: "\n").filter { $0.hasPrefix("      - ") }.count
      let tasks = text.split(separator: "\n").filter { $0.hasPrefix("  - name: ") }.count
      #expect((1...6).contains(ops), "\(name)")
      #expect((1...2).contains(tasks), "\(name)")
    }
    // Swept again on their own, the corpus plans reach every item the exploration reached.
    let again = root.appendingPathComponent("again")
    let s = try CLI.run(["sweep", corpus.path, "--report-dir", again.path, "--quiet"])
    #expect(s.status == 0, "\(s.stdout)\(s.stderr)")
    let results = try JSONDecoder().decode(
      RunResults.self, from: Data(contentsOf: again.appendingPathComponent("results.json")))
    var items = Set<String>()
    for p in results.plans { items.formUnion(SweepCoverage().items(of: p, runDirectory: again.path)) }
    #expect(items == Set(state.reached))
    #expect(results.plans.count < 8)
    // Each corpus plan says what it reaches.
    for (_, data) in try Self.files(corpus) {
      let text = String(decoding: data, as: UTF8.self)
      #expect(text.hasPrefix("# Generated by faultline explore (engine xfs-model, seed 0"))
      #expect(text.contains("#   "))
    }
  }

  @Test(arguments: [
    (["explore", "--max-plans", "1"], "expected --engine ENGINE (or --resume DIR)"),
    (["explore", "--engine", "btrfs-model"], "explore: expected --budget SECONDS or --max-plans N"),
    (
      ["explore", "--engine", "btrfs", "--max-plans", "1"],
      "--engine btrfs: expected an engine explore has a profile for"
    ),
    (["explore", "--engine", "btrfs-model", "--max-plans", "0"], "--max-plans 0: expected at least 1"),
    (["explore", "--engine", "btrfs-model", "--budget", "0"], "--budget 0.0: expected a positive number"),
    (["explore", "--engine", "btrfs-model", "--max-plans", "1", "--length", "9"], "--length 9: expected 1 to 4"),
    (["explore", "--engine", "btrfs-model", "--max-plans", "1", "--batch", "0"], "--batch 0: expected 1 to 256"),
    (["explore", "--engine", "btrfs-model", "--max-plans", "1", "--depth", "3"], "--depth 3: expected 1 or 2"),
    (["explore", "--engine", "btrfs-model", "--max-plans", "1", "--shard", "2/2"], "--shard 2/2: expected i/n"),
    (
      ["explore", "--engine", "btrfs-model", "--max-plans", "1", "--signal", "gcov"],
      "--signal gcov: expected one of sweep-points"
    ),
    (
      ["explore", "--engine", "xfs-model", "--max-plans", "1", "--signal", "error-handlers", "--batch", "4"],
      "--batch 4: --signal error-handlers is counted per sweep, not per plan"
    ),
    // The tests' faultline is a plain build: no coverage counters to read.
    (
      ["explore", "--engine", "xfs-model", "--max-plans", "1", "--signal", "error-handlers+sweep-points"],
      "this faultline has no coverage counters; build one that has: scripts/faultline"
    ),
    (
      ["explore", "--resume", "/nonexistent/explore", "--max-plans", "1"],
      "--resume /nonexistent/explore: no explore-state.json"
    ),
    (
      ["explore", "--engine", "btrfs-model", "--max-plans", "1", "--compare", "/nonexistent/results.json"],
      "--compare /nonexistent/results.json: cannot read it"
    ),
    (
      ["explore", "--engine", "btrfs-model", "--max-plans", "1", "--known", "/nonexistent/known.yaml"],
      "/nonexistent/known.yaml:1:1: error: cannot read the known-failures file"
    ),
  ])
  func badArgumentsExitTwoSayingWhat(args: [String], message: String) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-explore-bad-\(getpid())")
    let r = try CLI.run(args + (args.contains("--resume") ? [] : ["--report-dir", dir.path]))
    #expect(!FileManager.default.fileExists(atPath: dir.path), "bad input left \(dir.path) behind")
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains(message), "\(r.stderr)")
  }

  /// The error-handlers signal reads the handlers a sweep ran from its results.json, by the plan's
  /// engine, and nothing from an engine the sweep could not measure (never a guess).
  @Test func theErrorHandlerSignalReadsTheSweepsHandlersOfThePlansEngine() throws {
    let dir = try Self.scratch("handlers")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try CLI.run(["sweep", "Plans/xfs/write-enospc-at-reserve.yaml", "--quiet", "--report-dir", dir.path])
    #expect(r.status == 0, "\(r.stderr)")
    let path = dir.appendingPathComponent("results.json")
    var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any])
    func coverage(_ engine: String, measured: Bool, _ ids: [String]) -> [String: Any] {
      [
        "engine": engine, "measured": measured, "total": 9, "reached": ids.count, "unreached": [] as [Any],
        "reachedIDs": ids,
      ]
    }
    json["errorCoverage"] = [
      coverage("ext4-model", measured: true, ["Sources/Ext4Model/Ext4Engine.swift:1:1"]),
      coverage(
        "xfs-model", measured: true, ["Sources/XfsModel/XfsEngine.swift:36:39", "Sources/ModelKernel/X.swift:2:3"]),
    ]
    try JSONSerialization.data(withJSONObject: json).write(to: path)
    let run = try JSONDecoder().decode(RunResults.self, from: Data(contentsOf: path))
    let plan = try #require(run.plans.first)
    #expect(
      ErrorHandlerSignal().items(of: plan, runDirectory: dir.path)
        == ["handler Sources/XfsModel/XfsEngine.swift:36:39", "handler Sources/ModelKernel/X.swift:2:3"])
    json["errorCoverage"] = [coverage("xfs-model", measured: false, ["Sources/XfsModel/XfsEngine.swift:36:39"])]
    try JSONSerialization.data(withJSONObject: json).write(to: path)
    #expect(ErrorHandlerSignal().items(of: plan, runDirectory: dir.path).isEmpty)
    // The union keeps each signal's items apart by name.
    let both = ExploreCoverage.Union([ErrorHandlerSignal(), SweepCoverage()])
    #expect(both.sweepArguments == ["--error-coverage"] && both.wholeSweep)
  }

  @Test func aReportDirectoryHoldingAnExplorationIsNotStartedAfresh() throws {
    let root = try Self.scratch("twice")
    defer { try? FileManager.default.removeItem(at: root) }
    var r = try CLI.run(["explore"] + Self.small + ["--max-plans", "1", "--report-dir", root.path])
    #expect(r.status == 0, "\(r.stderr)")
    r = try CLI.run(["explore"] + Self.small + ["--max-plans", "1", "--report-dir", root.path])
    #expect(r.status == 2)
    #expect(r.stderr.contains("it holds an exploration already; continue it with --resume \(root.path)"), "\(r.stderr)")
    r = try CLI.run(["explore", "--resume", root.path, "--engine", "xfs-model", "--max-plans", "1"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("leave out --engine, --seed, --length, --batch, --depth and --shard"), "\(r.stderr)")
    r = try CLI.run(["explore", "--resume", root.path, "--seed", "3", "--max-plans", "1"])
    #expect(r.status == 2)
  }
}

/// The explore profiles against the engines they are for: every setup with every template loads
/// through the normal loader (the engine checks its setup and operations), so the generator never
/// makes a plan the engine refuses; the systematic phase and guided batches keep to the bounds.
@Suite struct ExploreProfileTests {
  @Test(arguments: ExploreProfiles.engines)
  func everySetupWithEveryTemplateLoads(engine: String) throws {
    let profile = try #require(ExploreProfiles.profile(engine))
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-profile-\(engine)-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let loader = PlanLoader(registry: FaultlineEngines.registry)
    var workloads: [Workload] = []
    for s in profile.setups.indices {
      // Every template once, in one task, then all of them over two tasks.
      workloads.append(Workload(setup: s, tasks: [Array(profile.templates.indices)]))
      let half = profile.templates.count / 2
      workloads.append(
        Workload(
          setup: s,
          tasks: [Array(profile.templates.indices.prefix(half)), Array(profile.templates.indices.dropFirst(half))]))
    }
    for (k, w) in workloads.enumerated() {
      let plan = try profile.plan(w, name: "p\(k)", origin: "test")
      let file = dir.appendingPathComponent("p\(k).yaml")
      try PlanWriter.yaml(plan).write(to: file, atomically: true, encoding: .utf8)
      let loaded = try loader.load(file: file.path)
      #expect(
        loaded.tasks.map { $0.ops.count } == w.tasks.map { $0.reduce(0) { $0 + profile.templates[$1].ops.count } })
    }
  }

  @Test(arguments: ExploreProfiles.engines)
  func generationKeepsToTheProfilesBounds(engine: String) throws {
    let profile = try #require(ExploreProfiles.profile(engine))
    let g = WorkloadGenerator(profile: profile, length: 2)
    let systematic = (0..<g.systematicCount).map(g.systematic)
    #expect(systematic.allSatisfy(profile.admits))
    var made = Set(systematic)
    let guided = g.guided(count: 64, seed: 1, batch: 0, parents: Array(systematic.suffix(10)), made: &made)
    #expect(guided.count == 64)
    #expect(guided.allSatisfy { profile.admits($0) && profile.opCount($0) <= profile.maxOps && $0.tasks.count <= 2 })
  }

  @Test func shardsTakeDisjointSystematicWorkloads() throws {
    let profile = try #require(ExploreProfiles.profile("btrfs-model"))
    var taken: [[Workload]] = []
    for i in 0..<2 {
      let state = ExploreState(
        engine: "btrfs-model", seed: 0, length: 1, batch: 8, signal: "sweep-points", shard: Shard(index: i, count: 2))
      let x = Explorer(
        profile: profile, state: state, signal: SweepCoverage(), dir: ReportDirectory(path: "/nonexistent"), depth: 1,
        jobs: 1, timeout: 1, quiet: true)
      let batch = x.nextBatch(limit: 100)
      #expect(batch.phase == "systematic")
      taken.append(batch.workloads)
      #expect(x.planName(generation: 1, 0) == "explore-btrfs-model-s0-shard\(i)of2-g1-1")
    }
    let g = WorkloadGenerator(profile: profile, length: 1)
    #expect(Set(taken[0]).isDisjoint(with: taken[1]))
    #expect(Set(taken[0] + taken[1]) == Set((0..<g.systematicCount).map(g.systematic)))
  }
}
