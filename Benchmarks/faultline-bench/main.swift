import CBenchEngine
import CEngineKit
import CExt2fsEngine
import FaultKit
// faultline-bench: the figures sweeps live by, measured side by side in one process.
// Build and run with scripts/bench (release). Prints medians of several rounds and their ratios.
import FaultlineEngines
import Foundation
import LinuxEngine

ProcessTuning.keepHeap()
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()
let registry = FaultlineEngines.registry
let loader = PlanLoader(registry: registry)
let rounds = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDS"] ?? "") ?? 7
let roundSeconds = Double(ProcessInfo.processInfo.environment["BENCH_SECONDS"] ?? "") ?? 0.5

/// CPU seconds used so far by this process (all its threads) and by the children it has waited
/// for (e2fsck, faultline-cbench and theirs). Measures count these, not the wall clock: the
/// machine is shared, and time other processes take while a measure runs is not its cost.
func cpuNow() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
  var ru = rusage()
  getrusage(RUSAGE_CHILDREN.rawValue, &ru)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 + Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
    + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
}

/// Runs `body` repeatedly for about `roundSeconds`, `rounds` times; returns per-round rates
/// (operations per CPU second, where `body` returns how many operations it did).
func measure(_ body: () -> Int) -> [Double] {
  _ = body()  // warm up
  return (0..<rounds).map { _ in oneRound(body) }.sorted()
}

/// One round: `body` repeatedly for at least `roundSeconds` of CPU; operations per CPU second.
func oneRound(_ body: () -> Int) -> Double {
  var ops = 0
  let start = cpuNow()
  var elapsed = 0.0
  while elapsed < roundSeconds {
    ops += body()
    elapsed = cpuNow() - start
  }
  return Double(ops) / elapsed
}

func median(_ xs: [Double]) -> Double { xs[xs.count / 2] }

/// Rounds of several bodies interleaved call by call (after one warm-up call of each): within a
/// round each body runs once in turn, over and over, for about `roundSeconds` of each, and each
/// body's rate is its operations over its own CPU time. What the machine's other load still
/// changes (caches, memory bandwidth) then falls on all of them alike within a round. Per-round
/// rates, in round order (unsorted: index r of each list is one round, for paired ratios).
func interleaved(_ bodies: [() -> Int]) -> [[Double]] {
  for b in bodies { _ = b() }
  var out = Array(repeating: [Double](), count: bodies.count)
  for _ in 0..<rounds {
    var ops = Array(repeating: 0, count: bodies.count)
    var time = Array(repeating: 0.0, count: bodies.count)
    var spent = 0.0
    for _ in 0..<(1 << 30) {
      if spent >= roundSeconds * Double(bodies.count) { break }
      for (i, b) in bodies.enumerated() {
        let start = cpuNow()
        ops[i] += b()
        let d = cpuNow() - start
        time[i] += d
        spent += d
      }
    }
    for i in bodies.indices { out[i].append(Double(ops[i]) / time[i]) }
  }
  return out
}

/// Per-round ratios a[r] / b[r], sorted.
func paired(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 / $1 }.sorted() }

/// Raw per-round figures, in round order, for the record.
func raw(_ xs: [Double], invert: Bool = false) -> String {
  "  rounds: " + xs.map { String(format: invert ? "%.1f" : "%.0f", invert ? 1e9 / $0 : $0) }.joined(separator: " ")
}

func report(_ name: String, _ rates: [Double], unit: String, invert: Bool = false) {
  let m = median(rates)
  let label = name.padding(toLength: 60, withPad: " ", startingAt: 0)
  if invert {
    print(label + String(format: "%10.1f ns  (%.1f-%.1f)", 1e9 / m, 1e9 / rates.last!, 1e9 / rates.first!))
  } else {
    print(label + String(format: "%10.0f %@  (%.0f-%.0f)", m, unit, rates.first!, rates.last!))
  }
}

func plan(_ rel: String) -> Plan {
  do { return try loader.load(file: root.appendingPathComponent(rel).path) } catch {
    fatalError("\(error)")
  }
}

let runner = ScenarioRunner(registry: registry)
func scenarios(_ p: Plan, _ opts: RunOptions = RunOptions()) -> [Double] { measure(scenarioBody(p, opts)) }
func scenarioBody(_ p: Plan, _ opts: RunOptions = RunOptions()) -> () -> Int {
  {
    for _ in 0..<20 { _ = try! runner.run(p, opts) }
    return 20
  }
}

/// The plan's engine run alone: setup, then the plan's tasks and their operations under the
/// scheduler (the plan's schedule, faults and pinned preemptions), every hit counted and traced.
/// No snapshot, no diff, no invariant, no data oracle, no recover: what `ScenarioRunner` adds to
/// this is what judging a scenario costs.
func engineAlone(_ plan: Plan) {
  let d = registry.descriptor(named: plan.engine)!
  let s = Scheduler(policy: plan.schedule.makePolicy(), stepLimit: plan.limits.steps, trace: Trace())
  let h = Harness(scheduler: s, injector: Injector(catalog: d.catalog, faults: plan.faults + plan.preemptions))
  let engine = try! d.make(EngineContext(setup: plan.setup, bugs: Set(plan.bugs), harness: h))
  s.spawn("setup", kind: .harness) { try? await engine.setup() }
  s.run()
  for task in plan.tasks {
    s.spawn(task.name, kind: .plan) {
      for op in task.ops {
        s.beginOp(op.kind.rawValue)
        do {
          _ = try await engine.perform(op)
        } catch let e where e.fsError != nil {
          // The operation failed: the plan goes on, as the runner's does.
        } catch {
          return  // torn down
        }
        s.endOp()
      }
    }
  }
  for p in plan.preemptions {
    if case .yield(let to?) = p.action { s.hold(to) }
  }
  s.resetSteps()
  h.injecting = true
  s.run()
  h.injecting = false
  s.abortAll()
}

// `faultline-bench profile PLAN N [BUG]`: run one plan N times (for perf record), nothing else.
let argv = CommandLine.arguments
if argv.count >= 4 && argv[1] == "profile" {
  let p = plan(argv[2])
  let opts = RunOptions(bugs: argv.count > 4 ? [argv[4]] : [])
  for _ in 0..<Int(argv[3])! { _ = try! runner.run(p, opts) }
  exit(0)
}
// `faultline-bench profile-sweep PLAN N`: run one plan's sweep space in process N times, e2fsck
// verdicts forgotten before each (as the ext2fs benchmark does), nothing else.
if argv.count >= 4 && argv[1] == "profile-sweep" {
  let p = plan(argv[2])
  let space = try! SweepDriver(registry: registry).space([p], configs: [SweepConfig(plan: p)], bugs: []).scenarios[0]
  for _ in 0..<Int(argv[3])! {
    fl_ext2fs_forget_verdicts()
    for sc in space { _ = try! InProcessExecutor.execute(sc, p, runner) }
  }
  exit(0)
}

// `faultline-bench [SECTION...]`: only these sections (seed, scheduler, point, sweep, ext2fs,
// linux). The linux section needs a kernel (FAULTLINE_KERNEL or scripts/build-kernel's cache).
let sections = Set(argv.dropFirst())
func wanted(_ section: String) -> Bool { sections.isEmpty || sections.contains(section) }
if let unknown = sections.subtracting(["seed", "scheduler", "point", "sweep", "ext2fs", "linux"]).sorted().first {
  FileHandle.standardError.write(
    Data("faultline-bench: no section \(unknown); expected seed, scheduler, point, sweep, ext2fs or linux\n".utf8))
  exit(2)
}

print(
  "faultline-bench: \(rounds) rounds of \(roundSeconds) CPU s each, medians (min-max); one core; rates per CPU"
    + " second (this process's and its children's), the sweep's times by the wall clock")
print("")

// 1. Scenarios per second on the seed plan: every oracle on; invariants and the data oracle off
// (the runner still takes and diffs its snapshots); and the engine run alone (nothing judged).
// The three interleaved round by round; the costs are per-round ratios.
if wanted("seed") {
  let seed = plan("Plans/btrfs/cow-enospc-second-iteration.yaml")
  var seedNoChecks = seed
  seedNoChecks.expect.invariants = []
  let (allOn, noChecks, alone) = {
    let r = interleaved([
      scenarioBody(seed), scenarioBody(seedNoChecks),
      {
        for _ in 0..<20 { engineAlone(seed) }
        return 20
      },
    ])
    return (r[0], r[1], r[2])
  }()
  report("seed 000 plan, fixed engine, every oracle on", allOn.sorted(), unit: "scenarios/s")
  print("  (snapshots after setup, after each failed op and at rest, diffs, invariants, recover, data oracle)")
  print(raw(allOn))
  report("seed 000 plan, invariants and data oracle off", noChecks.sorted(), unit: "scenarios/s")
  print("  (the runner still snapshots and diffs as above; no invariant, no recover, no data oracle)")
  print(raw(noChecks))
  report("seed 000 plan, engine alone (nothing judged)", alone.sorted(), unit: "scenarios/s")
  print("  (setup and the plan's ops under the scheduler, hits counted and traced; no snapshot or diff)")
  print(raw(alone))
  let judging = paired(alone, allOn)
  let snapshotting = paired(alone, noChecks)
  print(
    String(
      format: "  judging costs %.2fx the engine run alone (every oracle on; per-round ratios %.2f-%.2f)",
      median(judging) - 1, judging.first! - 1, judging.last! - 1))
  print(
    String(
      format: "  of which snapshots and diffs alone: %.2fx (per-round ratios %.2f-%.2f)", median(snapshotting) - 1,
      snapshotting.first! - 1, snapshotting.last! - 1))
  report(
    "seed 000 plan, cow-error-leaves-pages-locked (hang found)",
    scenarios(seed, RunOptions(bugs: ["cow-error-leaves-pages-locked"])), unit: "scenarios/s")
  report(
    "write-fsync plan (64KiB split write, fsync, recover)", scenarios(plan("Plans/btrfs/write-fsync.yaml")),
    unit: "scenarios/s")
  report(
    "two-writers-eio plan (2 tasks + worker, random schedule)", scenarios(plan("Plans/btrfs/two-writers-eio.yaml")),
    unit: "scenarios/s")
  print("")
}

// 2. The scheduler: a task switch at a schedule point, and a point with nobody else to run.
if wanted("scheduler") {
  let switchRates = measure {
    let n = 20_000
    let s = Scheduler(policy: FIFOPolicy(), stepLimit: 10 * n, trace: Trace())
    s.spawn("a", kind: .plan) { for _ in 0..<n { try await s.yield(to: "b", at: "bench") } }
    s.spawn("b", kind: .plan) { for _ in 0..<n { try await s.yield(to: "a", at: "bench") } }
    s.run()
    return 2 * n
  }
  report("task switch at a schedule point (yield to another task)", switchRates, unit: "", invert: true)
  let pointRates = measure {
    let n = 100_000
    let s = Scheduler(policy: FIFOPolicy(), stepLimit: 10 * n, trace: Trace())
    s.spawn("a", kind: .plan) { for _ in 0..<n { try await s.point("bench") } }
    s.run()
    return n
  }
  report("schedule point with no other runnable task", pointRates, unit: "", invert: true)
}

// 3. A fault point's cost per hit, as each kind of engine pays it in the product, interleaved:
// a Swift engine's point (Harness.hit: counted, traced, a schedule point) with no fault armed, and
// a C engine's point, which CEngine arms always so that every hit is counted: fl_fail → ctx->hit
// → CEngine.hit → Harness.hitNow → Injector (counted, traced), through the C ABI's own engine
// vtable (one perform passing the point 100,000 times). `faultline-cbench point` times fl_fail
// disarmed and armed with a bare C callback.
if wanted("point") {
  let n = 100_000
  let swiftPoint = {
    let catalog = FaultCatalog([FaultPoint("alloc.data", kind: .allocator, errnos: [.noSpace], about: "")])
    let s = Scheduler(policy: FIFOPolicy(), stepLimit: 10 * n, trace: Trace())
    let h = Harness(scheduler: s, injector: Injector(catalog: catalog, faults: []))
    h.injecting = true
    s.spawn("a", kind: .plan) { for _ in 0..<n { _ = try await h.hit(FaultPointID(0)) } }
    s.run()
    return n
  }
  let bench = try! CEngines.descriptor(fl_bench_engine())
  let cPoint = {
    let s = Scheduler(policy: FIFOPolicy(), stepLimit: 10, trace: Trace())
    let h = Harness(scheduler: s, injector: Injector(catalog: bench.catalog, faults: []))
    let engine = try! bench.make(EngineContext(setup: nil, bugs: [], harness: h))
    h.injecting = true
    s.spawn("a", kind: .plan) {
      s.beginOp("write")
      _ = try await engine.perform(FaultKit.Operation(.write, path: "/a", length: UInt64(n)))
      s.endOp()
    }
    s.run()
    precondition(h.injector.hits.count == n, "the C engine's hits were not all counted")
    return n
  }
  let r = interleaved([swiftPoint, cPoint])
  report("Swift engine's point, no fault armed (Harness.hit)", r[0].sorted(), unit: "", invert: true)
  print("  (counted, traced, a schedule point)")
  print(raw(r[0], invert: true))
  report("C engine's point, armed as CEngine arms all (fl_fail)", r[1].sorted(), unit: "", invert: true)
  print("  (fl_fail -> ctx->hit -> CEngine -> Harness.hitNow -> Injector: counted, traced)")
  print(raw(r[1], invert: true))
}

// 4. The sweep end to end: every model-engine plan at every point at depth 1, worker processes, --jobs 2
// against --jobs 1, interleaved. Each run must exit as its results.json says (0 when no
// unexpected failure; the fixed engines sweep clean, so 0) and have run every scenario of the
// space: a sweep that stopped early would look fast.
var invalid: [String] = []
if wanted("sweep") {
  let cli = root.appendingPathComponent(".build/release/faultline")
  if FileManager.default.isExecutableFile(atPath: cli.path) {
    print("")
    let dirs = ["Plans/btrfs", "Plans/xfs", "Plans/ext4"]
    let plans = dirs.flatMap { d in
      (try! FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(d).path)).filter {
        $0.hasSuffix(".yaml")
      }.sorted().map { plan("\(d)/\($0)") }
    }
    // As the CLI makes them with --points '*' --depth 1: every point, one fault a scenario (a
    // depth-2 plan's children depend on its runs, so the count to check would not be known).
    let configs = plans.map {
      var c = SweepConfig(plan: $0)
      c.points = ["*"]
      c.depth = 1
      return c
    }
    let expected = try! SweepDriver(registry: registry).space(plans, configs: configs, bugs: []).scenarios.reduce(0) {
      $0 + $1.count
    }
    /// One sweep: wall seconds (what --jobs changes) and CPU seconds (the sweep's processes).
    func sweepSeconds(jobs: Int) -> (wall: Double, cpu: Double) {
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-bench-\(getpid())-\(jobs)")
      let p = Process()
      p.executableURL = cli
      p.arguments =
        ["sweep"] + dirs + ["--points", "*", "--depth", "1", "--jobs", "\(jobs)", "--quiet", "--report-dir", dir.path]
      p.currentDirectoryURL = root
      p.standardOutput = FileHandle.nullDevice
      let clock = ContinuousClock()
      let start = clock.now
      let cpuStart = cpuNow()
      try? p.run()
      p.waitUntilExit()
      let d = clock.now - start
      let cpu = cpuNow() - cpuStart
      defer { try? FileManager.default.removeItem(at: dir) }
      let results = (try? Data(contentsOf: dir.appendingPathComponent("results.json"))).flatMap {
        try? JSONDecoder().decode(RunResults.self, from: $0)
      }
      let status = p.terminationStatus
      if let results {
        let unexpected = results.unexpectedFailures
        // The fixed engines sweep clean (Plans/known-failures.yaml is empty): exit 0, every
        // scenario of the space run. A sweep exits 1 when it finds a failure, 2 on bad input.
        if status != 0 || unexpected != 0 || results.scenarios != expected || !results.complete {
          invalid.append(
            "--jobs \(jobs): exit \(status), \(results.scenarios) of \(expected) scenarios ran, \(unexpected) unexpected failure(s)"
          )
        }
      } else {
        invalid.append("--jobs \(jobs): exit \(status), no readable results.json")
      }
      return (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, cpu)
    }
    let runs = max(3, rounds / 2)
    if ProcessInfo.processInfo.activeProcessorCount < 2 {
      print("  this machine has one core: --jobs 2 runs one worker, as --jobs 1 does (the sweep caps jobs at cores)")
    }
    var one: [Double] = []
    var two: [Double] = []
    var cpu1: [Double] = []
    var cpu2: [Double] = []
    for _ in 0..<runs {
      let a = sweepSeconds(jobs: 1)
      let b = sweepSeconds(jobs: 2)
      one.append(a.wall)
      two.append(b.wall)
      cpu1.append(a.cpu)
      cpu2.append(b.cpu)
    }
    let speedup = paired(one, two)
    print(
      "sweep of every model-engine plan at every point, depth 1 (\(plans.count) plans, \(expected) scenarios, exit 0 checked)"
    )
    print(
      String(
        format: "  --jobs 1  %8.2f s wall  (%.2f-%.2f), %.2f s CPU", median(one.sorted()), one.min()!, one.max()!,
        median(cpu1.sorted())))
    print(
      String(
        format: "  --jobs 2  %8.2f s wall  (%.2f-%.2f), %.2f s CPU", median(two.sorted()), two.min()!, two.max()!,
        median(cpu2.sorted())))
    print(String(format: "  speed-up  %8.2fx  (per-round %.2f-%.2f)", median(speedup), speedup.first!, speedup.last!))
    print(
      "  rounds (wall s, --jobs 1 / --jobs 2): "
        + zip(one, two).map { String(format: "%.2f/%.2f", $0, $1) }.joined(separator: " "))
    for line in invalid { print("  NOT VALID: \(line)") }
  } else {
    print("\n(sweep timing skipped: build .build/release/faultline first; scripts/bench does)")
  }
}

// 5. The ext2fs engine (real libext2fs, judged by e2fsck) against the naive way, on the same
// scenarios: the write-append plan's sweep space, every placement (the fault-free scenario and one
// fault at the nth hit of a point, transient or persistent, as the sweep places it). Ours: each
// scenario with its snapshots, invariants and e2fsck's verdict on its final image, twice: with
// the e2fsck verdict cache as a sweep runs it (emptied before each pass: one sweep's worth of
// reuse, the same verdict for the same bytes), and with it off (e2fsck on every scenario). The
// naive loop (faultline-cbench naive): per scenario, copy the image file, open it under a counting
// io_manager over unix_io_manager with libext2fs's allocator hooked, the plan's four operations
// (write, append, fsync, read) with the same fault armed at the same hit, close, e2fsck -fn. One
// core each, round by round; whole passes over the space on both sides.
if wanted("ext2fs") {
  let cbench = root.appendingPathComponent(".build/release/faultline-cbench")
  if FileManager.default.isExecutableFile(atPath: cbench.path) {
    print("")
    let p = plan("Plans/ext2fs/write-append.yaml")
    let driver = SweepDriver(registry: registry)
    let built = try! driver.space([p], configs: [SweepConfig(plan: p)], bugs: [])
    let space = built.scenarios[0]
    // The placements for the naive loop, one line per scenario in space order.
    let list = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-bench-\(getpid()).placements")
    let lines = space.map { sc -> String in
      guard let f = sc.placements.first else { return "-" }
      precondition(sc.placements.count == 1, "write-append sweeps at depth 1")
      let err: Int32 = if case .fail(let e) = f.action { e.rawValue } else { 0 }
      return "\(f.point) \(f.hit) \(err) \(f.mode == .persistent ? 1 : 0)"
    }
    try! Data((lines.joined(separator: "\n") + "\n").utf8).write(to: list)
    defer { try? FileManager.default.removeItem(at: list) }
    // Our side's faults that failed a hit, per pass: the naive loop must fail as many.
    fl_ext2fs_forget_verdicts()
    let ourFired = space.filter { sc in
      let o = try! InProcessExecutor.execute(sc, p, runner)
      return (o.fired ?? []).contains { $0.decision.hasPrefix("fail") }
    }.count
    /// Scenarios per second over one round (whole passes of the space).
    func ourRound(fsckCache: Bool) -> Double {
      setenv("FAULTLINE_EXT2FS_FSCK_CACHE", fsckCache ? "1" : "0", 1)
      return oneRound {
        fl_ext2fs_forget_verdicts()  // one sweep's worth of reuse per pass
        for sc in space { _ = try! InProcessExecutor.execute(sc, p, runner) }
        return space.count
      }
    }
    /// One round of the naive loop (faultline-cbench naive, one round of at least a second):
    /// scenarios/s, the faults that failed a hit in its last pass, and the hits per point of its
    /// fault-free scenario.
    func naiveRound() -> (rate: Double, fired: Int, hits: [String: Int])? {
      let c = Process()
      c.executableURL = cbench
      c.arguments = ["naive", list.path]
      c.environment = ProcessInfo.processInfo.environment.merging(["BENCH_ROUNDS": "1"]) { $1 }
      let out = Pipe()
      c.standardOutput = out
      try? c.run()
      let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      c.waitUntilExit()
      guard c.terminationStatus == 0,
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("naive-round ") })
      else { return nil }
      let f = line.split(separator: " ")
      guard f.count == 5, let rate = Double(f[1]), let fired = Int(f[3]) else { return nil }
      var hits: [String: Int] = [:]
      for kv in text.split(separator: "\n").first(where: { $0.hasPrefix("naive-hits") })?.split(separator: " ") ?? [] {
        let parts = kv.split(separator: "=")
        if parts.count == 2, parts[0] == "sequence", let h = UInt64(parts[1], radix: 16) {
          naiveSequence = h
        } else if parts.count == 2, let n = Int(parts[1]), n > 0 {
          hits[String(parts[0])] = n
        }
      }
      return (rate, fired, hits)
    }
    _ = ourRound(fsckCache: true)  // warm up: the setup image, the code
    // Interleaved round by round, so the machine's drift touches all three alike; the ratios are
    // taken per round (paired), then their median.
    var cached: [Double] = []
    var every: [Double] = []
    var naive: [Double] = []
    var naiveSequence: UInt64 = 0
    var naiveFired: Set<Int> = []
    var naiveHits: [String: Int] = [:]
    for _ in 0..<rounds {
      let c = ourRound(fsckCache: true)
      let e = ourRound(fsckCache: false)
      guard let n = naiveRound() else { break }
      cached.append(c)
      every.append(e)
      naive.append(n.rate)
      naiveFired.insert(n.fired)
      naiveHits = n.hits
    }
    unsetenv("FAULTLINE_EXT2FS_FSCK_CACHE")
    if naive.isEmpty {
      print("(ext2fs: faultline-cbench naive gave no figure)")
    } else {
      print("ext2fs write-append sweep space: \(space.count) scenarios, the same on both sides")
      report("ours, e2fsck verdicts reused in one sweep", cached.sorted(), unit: "scenarios/s")
      print(raw(cached))
      report("ours, e2fsck on every scenario", every.sorted(), unit: "scenarios/s")
      print(raw(every))
      report("naive (copy image, ops with the fault, close, e2fsck)", naive.sorted(), unit: "scenarios/s")
      print(raw(naive))
      for (name, r) in [
        ("with the verdict cache", paired(cached, naive)), ("with e2fsck every time", paired(every, naive)),
      ] {
        print(
          String(format: "  ours / naive, round by round, %@: %.2fx  (%.2f-%.2f)", name, median(r), r.first!, r.last!))
      }
      let same = naiveFired == [ourFired]
      print(
        "  faults that failed a hit per pass: ours \(ourFired), naive \(naiveFired.sorted().map(String.init).joined(separator: "/"))"
          + (same ? " (the same placements fire on both sides)" : " — NOT THE SAME"))
      if !same { invalid.append("ext2fs: the naive loop's faults fired \(naiveFired) times, ours \(ourFired)") }
      var ourHits: [String: Int] = [:]
      for h in built.reached[0] { ourHits[h.point] = h.hits }
      let hitsLine = ourHits.keys.sorted().map { "\($0) \(ourHits[$0]!)" }.joined(separator: ", ")
      print(
        "  hits of the fault-free scenario: ours \(hitsLine); naive "
          + (ourHits == naiveHits ? "the same" : "\(naiveHits)"))
      if ourHits != naiveHits {
        invalid.append("ext2fs: the naive loop counts other hits than the sweep: \(naiveHits)")
      }
      // The hits in order, as the naive loop hashes them (FNV-1a over catalog indexes).
      let catalog = registry.descriptor(named: p.engine)!.catalog
      var ourSequence: UInt64 = 0xCBF2_9CE4_8422_2325
      for h in try! runner.runRecordingHits(p, RunOptions(faults: [])).1 {
        ourSequence = (ourSequence ^ UInt64(catalog.index(of: h.point)!)) &* 0x100_0000_01B3
      }
      print("  the same hits in the same order: " + (ourSequence == naiveSequence ? "yes" : "NO"))
      if ourSequence != naiveSequence { invalid.append("ext2fs: the naive loop's hits come in another order") }
    }
    fflush(nil)
    let point = Process()
    point.executableURL = cbench
    point.arguments = ["point"]
    try? point.run()
    point.waitUntilExit()
  }
}

// 6. The linux engine: scenarios on one reused machine (its boot and golden image included)
// against a fresh boot for every scenario, the same plan and scenarios on both sides, rounds
// interleaved. Wall-clock seconds: the guest is a separate process whose CPU this process does
// not see until it is reaped. Every scenario's verdict is checked (all must pass).
// Without a kernel the section is left out when not asked for by name, and is invalid when it is.
var linuxKernelMissing: String?
if wanted("linux") {
  do { _ = try runner.run(plan("Plans/linux/ext4-write-fsync.yaml")) } catch { linuxKernelMissing = "\(error)" }
}
if let why = linuxKernelMissing, wanted("linux") {
  print("linux: left out, no machine boots here: \(why)\n")
  if sections.contains("linux") { invalid.append("linux: \(why)") }
}
if wanted("linux") && linuxKernelMissing == nil {
  let p = plan("Plans/linux/ext4-write-fsync.yaml")
  let perRound = Int(ProcessInfo.processInfo.environment["BENCH_LINUX_SCENARIOS"] ?? "") ?? 8
  /// One round: `perRound` scenarios, from no machine. Returns wall seconds per scenario over
  /// all of them, and over the ones after the first (on a reused machine: with its boot behind).
  func round(reuse: Bool) -> (all: Double, afterFirst: Double) {
    MachinePool.shared.shutdownAll()
    MachinePool.shared.reuse = reuse
    let before = MachinePool.shared.counts
    let start = DispatchTime.now().uptimeNanoseconds
    var firstDone = start
    for i in 0..<perRound {
      do {
        let r = try runner.run(p)
        if !r.passed {
          invalid.append(
            "linux: a scenario of \(p.name) did not pass (reuse \(reuse)): \(r.violations.map(\.message)) \(r.unjudged ?? [])"
          )
          break
        }
      } catch {
        invalid.append("linux: a scenario of \(p.name) did not run (reuse \(reuse)): \(error)")
        break
      }
      if i == 0 { firstDone = DispatchTime.now().uptimeNanoseconds }
    }
    let end = DispatchTime.now().uptimeNanoseconds
    MachinePool.shared.shutdownAll()
    let after = MachinePool.shared.counts
    let boots = after.boots - before.boots
    if boots != (reuse ? 1 : perRound) {
      invalid.append("linux: \(boots) boots for \(perRound) scenarios with reuse \(reuse)")
    }
    return (Double(end - start) / 1e9 / Double(perRound), Double(end - firstDone) / 1e9 / Double(max(1, perRound - 1)))
  }
  let linuxRounds = max(1, min(rounds, 3))
  var reused: [Double] = []
  var steady: [Double] = []
  var booted: [Double] = []
  for _ in 0..<linuxRounds {
    let r = round(reuse: true)
    reused.append(r.all)
    steady.append(r.afterFirst)
    booted.append(round(reuse: false).all)
  }
  MachinePool.shared.reuse = true
  func secs(_ xs: [Double]) -> String { xs.map { String(format: "%.2f", $0) }.joined(separator: " ") }
  func row(_ label: String, _ xs: [Double]) {
    print(
      label.padding(toLength: 58, withPad: " ", startingAt: 0)
        + String(format: "%6.2f s   rounds: %@", median(xs.sorted()), secs(xs)))
  }
  print("linux ext4-write-fsync, \(perRound) scenarios a round, wall seconds per scenario (rounds: \(linuxRounds))")
  row("  one machine reused, its boot included", reused)
  row("  one machine reused, scenarios after the first (booted)", steady)
  row("  a fresh boot per scenario", booted)
  print(
    String(
      format: "  reuse is %.1fx cheaper per scenario with its boot, %.1fx once booted (medians of per-round ratios)",
      median(zip(booted, reused).map { $0 / $1 }.sorted()), median(zip(booted, steady).map { $0 / $1 }.sorted())))
  print("")
}

if !invalid.isEmpty {
  FileHandle.standardError.write(
    Data(("faultline-bench: figures not valid:\n" + invalid.map { "  \($0)\n" }.joined()).utf8))
  exit(1)
}
