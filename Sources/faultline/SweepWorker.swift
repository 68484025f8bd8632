import ArgumentParser
import CFaultlineSupport
import FaultKit
import FaultlineEngines
import Foundation

/// `faultline sweep-worker`: the worker side of `WorkerRequest`. Reads requests on descriptor 3
/// and writes answers on descriptor 4, one line each (its standard output and error are a log
/// the parent reads only when it dies). Says `ready` once its engines (plugins too) are loaded;
/// a plugin that no longer loads is exit 2 before that. Dies with its parent.
struct SweepWorker: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep-worker",
    abstract: "Run engine requests sent on descriptor 3 (used by faultline sweep and replay).",
    shouldDisplay: false)

  func run() throws {
    // Die with the parent; a parent already gone (it died before this was set) is checked once.
    _ = fl_parent_death_signal(SIGKILL)
    if let parent = ProcessInfo.processInfo.environment["FAULTLINE_WORKER_PARENT"].flatMap(Int32.init),
      getppid() != parent
    {
      Foundation.exit(0)
    }
    // The protocol's descriptors stay out of anything the engine starts (a crash reporter, e2fsck).
    guard fcntl(3, F_SETFD, FD_CLOEXEC) == 0, fcntl(4, F_SETFD, FD_CLOEXEC) == 0 else {
      throw BadInput(description: "faultline sweep-worker: descriptors 3 and 4 are its protocol; faultline starts it")
    }
    let errors = FaultlineEngines.pluginErrors
    if !errors.isEmpty { throw BadInput(description: errors.joined(separator: "\n")) }
    var server = WorkerServer(registry: FaultlineEngines.registry)
    server.send(Data("ready".utf8))
    var reader = LineReader(fd: 3)
    while let line = reader.next() { server.handle(line) }
    server.profiles.request(of: nil)
    // The linux engine's machines are powered off and their directories removed.
    FaultlineEngines.shutdownMachines()
    Foundation.exit(reader.failed ? 3 : 0)
  }
}

/// Answers requests, one at a time.
struct WorkerServer {
  let registry: EngineRegistry
  let runner: ScenarioRunner
  let loader: PlanLoader
  var plans: [String: Plan] = [:]
  /// Coverage counters per engine, for `sweep --error-coverage`.
  var profiles = ProfileAttribution()

  init(registry: EngineRegistry) {
    self.registry = registry
    runner = ScenarioRunner(registry: registry)
    loader = PlanLoader(registry: registry)
  }

  mutating func handle(_ line: Data) {
    do {
      let request = try JSONDecoder().decode(WorkerRequest.self, from: line)
      setenv("FAULTLINE_PHASE", request.kind.phase, 1)
      if profiles.directory != nil { profiles.request(of: engine(of: request)) }
      send(try answer(request))
    } catch {
      var out = Data([WorkerReportedError.mark])
      out.append(Data("\(error)".utf8))
      send(out)
    }
  }

  /// The engine of a sweep's own runs (a scenario, a recording); nil for anything else.
  private mutating func engine(of r: WorkerRequest) -> String? {
    switch r.kind {
    case .scenario: return r.scenario.flatMap { try? plan($0.plan).engine }
    case .record: return try? plan(r.plan).engine
    case .shrink, .snapshots, .replay: return nil
    }
  }

  private mutating func plan(_ file: String?) throws -> Plan {
    guard let file else { throw BadInput(description: "a worker request without a plan") }
    if let p = plans[file] { return p }
    let p = try loader.load(file: file)
    plans[file] = p
    return p
  }

  private mutating func answer(_ r: WorkerRequest) throws -> Data {
    let encoder = JSONEncoder.sorted
    switch r.kind {
    case .scenario:
      guard let sc = r.scenario else { throw BadInput(description: "a scenario request without its scenario") }
      return try encoder.encode(try InProcessExecutor.execute(sc, try plan(sc.plan), runner))
    case .record:
      let p = try plan(r.plan)
      let (_, placements, pruned, reached) = try Sweeper(registry: registry).space(
        p, r.config ?? SweepConfig(plan: p), bugs: r.bugs ?? [])
      return try encoder.encode(Recording.recorded(placements: placements, pruned: pruned, reached: reached))
    case .shrink:
      guard let f = r.failure else { throw BadInput(description: "a shrink request without its failure") }
      let made = SweepRepro.make(
        try plan(r.plan), f, number: r.number ?? 1, bugs: r.bugs ?? [], registry: registry, deadline: r.deadline,
        progress: { send(Data("+".utf8)) })
      return try encoder.encode(
        ShrinkAnswer(
          yaml: PlanWriter.yaml(made.plan), name: made.plan.name,
          shrunk: made.shrunk.map { [$0.before, $0.after, $0.runs] }, finished: made.finished))
    case .snapshots:
      guard let f = r.failure else { throw BadInput(description: "a snapshots request without its failure") }
      let g = f.withSnapshots(try plan(r.plan), bugs: r.bugs ?? [], runner: runner)
      return try encoder.encode(SnapshotsAnswer(baseline: g.result?.baseline, atRest: g.result?.atRest))
    case .replay:
      return try encoder.encode(try runner.run(try plan(r.plan)))
    }
  }

  /// Writes a line to descriptor 4; a parent that is gone ends this process.
  func send(_ data: Data) {
    var line = data
    line.append(0x0A)
    line.withUnsafeBytes { raw in
      var at = 0
      while at < raw.count {
        let n = write(4, raw.baseAddress! + at, raw.count - at)
        if n > 0 {
          at += n
        } else if n < 0 && errno == EINTR {
          continue
        } else {
          // The sweep is gone: so is this worker, and its machines with it.
          FaultlineEngines.shutdownMachines()
          Foundation.exit(0)
        }
      }
    }
  }
}

/// Lines from a descriptor, read in chunks.
struct LineReader {
  let fd: Int32
  private var buffer: [UInt8] = []
  private var searched = 0
  /// The descriptor failed (not an end of file): someone closed it under us.
  private(set) var failed = false

  init(fd: Int32) { self.fd = fd }

  /// The next line without its newline; nil at the end.
  mutating func next() -> Data? {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      if let nl = buffer[searched...].firstIndex(of: 0x0A) {
        let line = Data(buffer[..<nl])
        buffer.removeSubrange(...nl)
        searched = 0
        return line
      }
      searched = buffer.count
      let n = read(fd, &chunk, chunk.count)
      if n < 0 && errno == EINTR { continue }
      if n < 0 { failed = true }
      if n <= 0 { return nil }
      buffer.append(contentsOf: chunk[0..<n])
    }
  }
}
