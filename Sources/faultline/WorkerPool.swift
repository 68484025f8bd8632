import FaultKit
import Foundation

/// Runs sweep scenarios in worker processes (`faultline sweep-worker`), one scenario at a time
/// each. A worker that dies costs the scenario it was running, recorded as crashed with the
/// signal or the runtime's message; a worker that does not answer within the timeout is killed
/// and its scenario recorded as timed out. Either way a fresh worker takes its place and the
/// sweep goes on.
final class WorkerPool: ScenarioExecutor, @unchecked Sendable {
  let jobs: Int
  let timeoutSeconds: Double
  private let lock = NSCondition()
  private var queue: [SweepScenario] = []
  private var next = 0
  private var inFlight = 0
  private var failure: Error?
  /// Set when the callback asked to stop: nothing more is started.
  private var stopped = false

  init(jobs: Int, timeoutSeconds: Double) {
    self.jobs = jobs
    self.timeoutSeconds = timeoutSeconds
  }

  func run(_ initial: [SweepScenario], onOutcome: (SweepOutcome) -> [SweepScenario]?) throws {
    queue = initial
    next = 0
    withoutActuallyEscaping(onOutcome) { callback in
      let box = CallbackBox(callback)
      // One thread per job; each owns one worker process at a time.
      DispatchQueue.concurrentPerform(iterations: jobs) { n in
        do { try self.workerLoop(n, box.call) } catch {
          self.lock.lock()
          self.failure = self.failure ?? error
          self.lock.broadcast()
          self.lock.unlock()
        }
      }
    }
    if let failure { throw failure }
  }

  /// Takes the next scenario, waiting while others may still add children; nil when all is done.
  private func take() -> SweepScenario? {
    lock.lock()
    defer { lock.unlock() }
    while next >= queue.count && inFlight > 0 && failure == nil && !stopped { lock.wait() }
    guard next < queue.count, failure == nil, !stopped else { return nil }
    let sc = queue[next]
    next += 1
    inFlight += 1
    return sc
  }

  private func finish(_ o: SweepOutcome, _ callback: (SweepOutcome) -> [SweepScenario]?) {
    lock.lock()
    if let more = callback(o) {
      queue += more
    } else {
      stopped = true
    }
    inFlight -= 1
    lock.broadcast()
    lock.unlock()
  }

  private func workerLoop(_ n: Int, _ callback: (SweepOutcome) -> [SweepScenario]?) throws {
    var worker: Worker?
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let decoder = JSONDecoder()
    while let sc = take() {
      if worker == nil { worker = try Worker(slot: n) }
      var line = try encoder.encode(sc)
      line.append(0x0A)
      let outcome: SweepOutcome
      switch worker!.ask(line, timeoutSeconds: timeoutSeconds) {
      case .answer(let data):
        var decoded: SweepOutcome
        do {
          decoded = try decoder.decode(SweepOutcome.self, from: data)
          decoded.encoded = data
        } catch {
          worker!.kill()
          worker = nil
          outcome = SweepOutcome(
            scenario: sc, kind: .crashed,
            detail: "worker answered with something that is not a result (\(data.count) bytes: \(error))")
          break
        }
        outcome = decoded
      case .died(let why):
        worker = nil
        outcome = SweepOutcome(scenario: sc, kind: .crashed, detail: why)
      case .timedOut:
        worker!.kill()
        worker = nil
        outcome = SweepOutcome(scenario: sc, kind: .timedOut, detail: "no answer within \(timeoutSeconds)s")
      }
      finish(outcome, callback)
    }
    worker?.close()
  }
}

/// The outcome callback, handed to the job threads; they call it under the pool's lock only.
private final class CallbackBox: @unchecked Sendable {
  let call: (SweepOutcome) -> [SweepScenario]?
  init(_ call: @escaping (SweepOutcome) -> [SweepScenario]?) { self.call = call }
}

/// One worker process and its pipes.
final class Worker {
  enum Answer {
    case answer(Data)
    case died(String)
    case timedOut
  }

  private let process = Process()
  private let input = Pipe()
  private let output = Pipe()
  private let errorFile: URL
  private var buffer = Data()

  init(slot: Int) throws {
    errorFile = FileManager.default.temporaryDirectory.appendingPathComponent(
      "faultline-worker-\(getpid())-\(slot).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = ["sweep-worker"]
    process.standardInput = input
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
  }

  /// Sends one scenario and waits for its answer line.
  func ask(_ line: Data, timeoutSeconds: Double) -> Answer {
    do { try input.fileHandleForWriting.write(contentsOf: line) } catch { return died() }
    let fd = output.fileHandleForReading.fileDescriptor
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutSeconds * 1e9)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    // A failure's answer is its whole result (hundreds of KiB for a filesystem's): look for the
    // newline only in what each read added, in a local buffer (no per-byte access checks).
    var pending = buffer
    buffer = Data()
    defer { buffer = pending }
    var searched = pending.startIndex
    while true {
      if let nl = pending[searched...].firstIndex(of: 0x0A) {
        let answer = pending[pending.startIndex..<nl]
        pending.removeSubrange(pending.startIndex...nl)
        return .answer(Data(answer))
      }
      searched = pending.endIndex
      let now = DispatchTime.now().uptimeNanoseconds
      guard now < deadline else { return .timedOut }
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&pfd, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
      if ready < 0 && errno == EINTR { continue }
      if ready <= 0 { continue }
      let n = read(fd, &chunk, chunk.count)
      if n <= 0 { return died() }
      pending.append(contentsOf: chunk[0..<n])
    }
  }

  /// Why the worker is gone: its signal or exit status, and the runtime's message if it left one.
  private func died() -> Answer {
    process.waitUntilExit()
    let how =
      process.terminationReason == .uncaughtSignal
      ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
    let text = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(at: errorFile)  // read; the worker that wrote it is gone
    let message = text.split(separator: "\n").first {
      $0.contains("Fatal error") || $0.contains("runtime failure") || $0.contains("Precondition")
    }
    return .died(message.map { "\(how): \($0.trimmingCharacters(in: .whitespaces))" } ?? how)
  }

  func kill() {
    if process.isRunning {
      Foundation.kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    try? FileManager.default.removeItem(at: errorFile)
  }

  func close() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
    try? FileManager.default.removeItem(at: errorFile)
  }
}
