import FaultKit
import Foundation

/// Engine `planted-model`, registered only when `FAULTLINE_PLANTED=1`: a test fixture whose
/// points crash the process or hang it for real (no schedule point, no way back), so the sweep's
/// worker isolation can be tested. It has no filesystem behind it.
///
/// Its `setup:` plants misbehaviour in a chosen phase (`PlantedMisbehaviour` says how):
/// ```yaml
/// setup:
///   misbehave: { do: segv, in: record }            # the fault-free recording run segfaults
///   misbehave: { do: abort, in: scenario, hit: 2 } # when a placed fault fires at planted.step#2
///   misbehave: { do: crash, in: shrink, below-ops: 2 }  # at rest, when fewer than 2 ops ran
///   misbehave: { do: hang, in: report }            # when run again for the report's snapshots
///   violate: true   # a failed planted.step breaks the rule planted-clean: a judged failure
///   violate-in: { counter: PATH, runs: [1, 3] }  # only in these runs: each run in which
///                   # planted.step fails adds one to the count in PATH (across processes)
/// ```
enum PlantedEngine {
  static let catalog = FaultCatalog([
    FaultPoint("planted.step", kind: .io, errnos: [.io], about: "an ordinary point: fails the write with EIO"),
    FaultPoint("planted.crash", kind: .io, errnos: [.io], about: "a fault here traps the process (fatalError)"),
    FaultPoint("planted.hang", kind: .io, errnos: [.io], about: "a fault here blocks the process for an hour"),
  ])

  static let clean: InvariantName = "planted-clean"

  static let descriptor = EngineDescriptor(
    name: "planted-model", about: "test fixture: planted crash and hang points", catalog: catalog,
    operations: [.write], bugs: [], invariants: [.noHang, clean], ownInvariants: [PlantedClean()],
    checkSetup: { try PlantedMisbehaviour.read($0) },
    make: { ctx in Instance(ctx.harness, try PlantedMisbehaviour.read(ctx.setup)) })

  /// Engine `planted-flaky-model`: the same fixture, declared not deterministic, so a sweep
  /// reruns its failures; `violate-in:` makes a failure that happens in some runs only.
  static let flakyDescriptor: EngineDescriptor = {
    var d = EngineDescriptor(
      name: "planted-flaky-model", about: "test fixture: planted misbehaviour, an engine that is not deterministic",
      catalog: catalog, operations: [.write], bugs: [], invariants: [.noHang, clean], ownInvariants: [PlantedClean()],
      checkSetup: { try PlantedMisbehaviour.read($0) },
      make: { ctx in Instance(ctx.harness, try PlantedMisbehaviour.read(ctx.setup)) })
    d.deterministic = false
    return d
  }()

  final class Instance: Engine, @unchecked Sendable {
    let harness: Harness
    let plant: PlantedMisbehaviour
    var opsRun = 0
    var broken: [AssertionRecord] = []

    init(_ harness: Harness, _ plant: PlantedMisbehaviour) {
      self.harness = harness
      self.plant = plant
    }

    func setup() async throws {}

    func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
      opsRun += 1
      plant.onOp(placed: harness.injector.placed)
      do {
        try await harness.check(FaultPointID(0))
      } catch {
        if let h = harness.lastHit { plant.onFired(hit: h.hit) }
        if plant.violate && plant.violatesThisRun() {
          broken.append(AssertionRecord(rule: clean.rawValue, detail: "\(op.path): EIO kept"))
        }
        throw error
      }
      if case .fail = try await harness.hit(FaultPointID(1)) { fatalError("planted crash in \(op.path)") }
      if case .fail = try await harness.hit(FaultPointID(2)) { sleep(3600) }
      return nil
    }

    func snapshot() -> Snapshot {
      // At rest: every plan task has finished.
      let plan = harness.scheduler.statuses.filter { $0.kind == .plan }
      if !plan.isEmpty && plan.allSatisfy(\.finished) { plant.atRest(opsRun: opsRun) }
      var s = Snapshot()
      s.assertions = broken
      return s
    }

    func recover() async throws {}
  }

  /// `planted-clean`: no rule the engine asserts was broken (`violate: true` breaks it when a
  /// planted.step fault fires).
  struct PlantedClean: Invariant {
    var name: InvariantName { PlantedEngine.clean }
    var checks: String { "the planted engine broke no rule" }
    var doesNotCheck: String { "anything else: it is a fixture" }
    func check(_ c: InvariantContext) -> [Violation] {
      guard c.moment.isAtRest else { return [] }
      return c.current.assertions.filter { $0.rule == name.rawValue }.map {
        Violation(name, moment: c.moment, $0.detail)
      }
    }
  }
}

/// What the planted engine does wrong, and when (`setup: misbehave:`, one rule or a list):
/// - `do`: `crash` (fatalError, SIGILL or SIGTRAP), `abort` (SIGABRT), `segv` (a store to address
///   8, SIGSEGV), `exit` (exit status 3), `hang` (sleeps an hour), `print` (writes a line to
///   standard output at every op), `close-protocol` (closes descriptors 0 and 3, where a
///   worker's requests come from).
/// - `in`: the phase. `record`: the fault-free recording run (no fault placed); `scenario`: a
///   sweep scenario; `shrink`: a shrinking run; `report`: the report's re-run for snapshots;
///   `replay`; `any` (the default). Worker processes say their phase in `FAULTLINE_PHASE`;
///   without it (a sweep that runs these in its own process), `record` is a run with no fault
///   placed, `scenario` any run in a worker, `shrink` and `report` any run outside one.
/// - `hit: N`: only when a placed fault fires at planted.step#N. `below-ops: N`: only at rest,
///   when fewer than N operations ran (what shrinking does to a plan).
/// - `once: PATH`: only when PATH does not exist yet (it is created: once across processes).
///   `marker: PATH`: created when it misbehaves. `delete: PATH`: removed when it misbehaves.
struct PlantedMisbehaviour: Sendable {
  struct Rule: Sendable {
    var what = "crash"
    var phase = "any"
    var hit: Int?
    var belowOps: Int?
    var once: String?
    var marker: String?
    var delete: String?
  }
  var rules: [Rule] = []
  var violate = false
  /// `violate-in`: the counter file and the runs (1-based) in which `violate` holds.
  var counter: String?
  var violateRuns: [Int] = []

  static let actions = ["crash", "abort", "segv", "exit", "hang", "print", "close-protocol"]
  static let phases = ["record", "scenario", "shrink", "report", "replay", "any"]

  @discardableResult
  static func read(_ setup: PlanValue?) throws -> PlantedMisbehaviour {
    var m = PlantedMisbehaviour()
    guard let setup else { return m }
    let top = try PlanMap(setup, path: "setup", keys: ["misbehave", "violate", "violate-in"])
    m.violate = try top.bool("violate") ?? false
    if let v = top.value("violate-in") {
      let map = try PlanMap(v, path: "setup.violate-in", keys: ["counter", "runs"])
      m.counter = try map.string("counter")
      if case .seq(let runs, _) = map.value("runs") {
        m.violateRuns = runs.compactMap { if case .scalar(let s, _) = $0 { Int(s) } else { nil } }
      }
    }
    guard let v = top.value("misbehave") else { return m }
    let items: [PlanValue]
    if case .seq(let list, _) = v { items = list } else { items = [v] }
    for (i, item) in items.enumerated() {
      let path = items.count == 1 ? "setup.misbehave" : "setup.misbehave[\(i)]"
      let map = try PlanMap(item, path: path, keys: ["do", "in", "hit", "below-ops", "once", "marker", "delete"])
      var r = Rule()
      r.what = try map.string("do") ?? "crash"
      guard actions.contains(r.what) else {
        throw PlanError(
          map.keyLocation("do"), key: "\(path).do", expected: actions.joined(separator: ", "), found: r.what)
      }
      r.phase = try map.string("in") ?? "any"
      guard phases.contains(r.phase) else {
        throw PlanError(
          map.keyLocation("in"), key: "\(path).in", expected: phases.joined(separator: ", "), found: r.phase)
      }
      r.hit = try map.int("hit", min: 1)
      r.belowOps = try map.int("below-ops", min: 1)
      r.once = try map.string("once")
      r.marker = try map.string("marker")
      r.delete = try map.string("delete")
      m.rules.append(r)
    }
    return m
  }

  /// Whether `violate` holds in this run: always, without `violate-in`; otherwise this run is
  /// counted in the counter file (an exclusive lock, so processes count in turn) and the count
  /// must be one of the runs listed.
  func violatesThisRun() -> Bool {
    guard let counter else { return true }
    let fd = open(counter, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard flock(fd, LOCK_EX) == 0 else { return false }
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = pread(fd, &buffer, buffer.count, 0)
    let count =
      (n > 0
        ? Int(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 : 0)
      + 1
    let text = Array("\(count)\n".utf8)
    _ = ftruncate(fd, 0)
    _ = pwrite(fd, text, text.count, 0)
    return violateRuns.contains(count)
  }

  /// At every operation: `print`, and rules with neither `hit` nor `below-ops`.
  func onOp(placed: Int) {
    for r in rules where r.inPhase(placed: placed) {
      if r.what == "print" {
        let line = "planted: a line on standard output, as a chatty plugin writes\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
      } else if r.hit == nil && r.belowOps == nil {
        r.misbehave()
      }
    }
  }

  /// A placed fault fired at planted.step#`fired`.
  func onFired(hit fired: Int) {
    for r in rules where r.what != "print" && r.hit == fired && r.belowOps == nil && r.inPhase(placed: 1) {
      r.misbehave()
    }
  }

  /// Every plan task has finished, after `opsRun` operations.
  func atRest(opsRun: Int) {
    for r in rules where r.what != "print" && r.inPhase(placed: 1) {
      if let below = r.belowOps, opsRun > 0, opsRun < below { r.misbehave() }
    }
  }
}

extension PlantedMisbehaviour.Rule {
  /// Is this run in the rule's phase?
  func inPhase(placed: Int) -> Bool {
    let env = ProcessInfo.processInfo.environment["FAULTLINE_PHASE"]
    let command = CommandLine.arguments.dropFirst().first
    switch phase {
    case "record": return env == "record" || (env == nil && placed == 0)
    case "scenario": return env == "scenario" || (env == nil && command == "sweep-worker")
    case "shrink": return env == "shrink" || (env == nil && command != "sweep-worker")
    case "report": return env == "snapshots" || (env == nil && command != "sweep-worker")
    case "replay": return env == "replay" || (env == nil && command == "replay")
    default: return true
    }
  }

  func misbehave() {
    if let once {
      let fd = open(once, O_CREAT | O_EXCL | O_WRONLY, 0o644)
      guard fd >= 0 else { return }
      close(fd)
    }
    if let marker { _ = FileManager.default.createFile(atPath: marker, contents: nil) }
    if let delete { unlink(delete) }
    switch what {
    case "crash": fatalError("planted crash (\(phase))")
    case "abort": abort()
    case "segv": UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
    case "exit": exit(3)
    case "hang": for _ in 0..<3600 { sleep(1) }
    case "close-protocol":
      close(0)
      close(3)
    default: break
    }
  }
}
