import CFaultlineSupport
import Foundation

/// One worker process (`faultline sweep-worker`), spawned by `WorkerSpawner`: requests go to it
/// on its descriptor 3 and answers come back on its descriptor 4, one line each. Its standard
/// output and error go to a file with no name (a plugin's printf cannot garble an answer; the
/// runtime's last words are read from there when it dies). It shares the sweep's process group
/// and dies with the sweep (PR_SET_PDEATHSIG, set by the worker itself). Every wait here is
/// bounded; the parent reaps it with waitpid, never waiting on its pipes.
final class Worker {
  enum Answer {
    case answer(Data)
    /// It was gone before it could take the request (died between requests, or closed its end
    /// of the protocol): the request played no part.
    case gone(WorkerDeath)
    /// It died while the request was its to answer.
    case died(WorkerDeath)
    /// No answer within the timeout; the worker is still running (kill it).
    case timedOut
  }

  let pid: pid_t
  private var requests: Int32
  private var answers: Int32
  /// Its standard output and error (-1 when they are the parent's).
  private let output: Int32
  private var pending: [UInt8] = []
  private var searched = 0
  private var waitStatus: Int32?

  /// How long a worker may take to start and say it is ready.
  static let startSeconds = 60.0

  /// Starts a worker and waits until it says it is ready.
  /// - Parameter inheritOutput: its standard output and error are the parent's standard error
  ///   (`replay`: the engine's messages and `FAULTLINE_TRACE` reach the terminal).
  /// - Throws: `WorkerStartFailure` when it cannot be spawned, dies before it is ready (a plugin
  ///   that no longer loads) or does not get ready in time.
  init(inheritOutput: Bool = false) throws {
    var req: [Int32] = [-1, -1]
    var ans: [Int32] = [-1, -1]
    guard fl_pipe_cloexec(&req) == 0 else { throw WorkerStartFailure("cannot make a pipe: \(errnoText())") }
    guard fl_pipe_cloexec(&ans) == 0 else {
      let e = errnoText()
      Glibc.close(req[0])
      Glibc.close(req[1])
      throw WorkerStartFailure("cannot make a pipe: \(e)")
    }
    let out = inheritOutput ? -1 : fl_anonymous_file()
    let spawned = WorkerSpawner.shared.spawn(request: req[0], answer: ans[1], output: out >= 0 ? out : 2)
    Glibc.close(req[0])
    Glibc.close(ans[1])
    requests = req[1]
    answers = ans[0]
    output = out
    guard case .success(let pid) = spawned else {
      Glibc.close(requests)
      Glibc.close(answers)
      if out >= 0 { Glibc.close(out) }
      if case .failure(let e) = spawned { throw e }
      throw WorkerStartFailure("cannot start")
    }
    self.pid = pid
    // Writes must never block for good on a worker that stopped reading.
    _ = fcntl(requests, F_SETFL, fcntl(requests, F_GETFL) | O_NONBLOCK)
    switch readLine(until: deadline(Self.startSeconds), heartbeat: false) {
    case .line(let l) where l == Data("ready".utf8):
      return
    case .line(let l):
      kill()
      throw WorkerStartFailure("a worker answered \(l.count) bytes that are not its greeting")
    case .end:
      let death = reap(within: 5) ?? forceDeath()
      let said = lastWords(all: true)
      throw WorkerStartFailure("a worker could not start (\(death.description))" + (said.isEmpty ? "" : ": \(said)"))
    case .timeout:
      kill()
      throw WorkerStartFailure("a worker did not start within \(Int(Self.startSeconds))s")
    }
  }

  deinit {
    if waitStatus == nil { kill() }
    closeDescriptors()
    if output >= 0 { Glibc.close(output) }
  }

  /// Sends one request line and waits for its answer line. With `heartbeat`, a `+` line from the
  /// worker (one shrinking run done) starts the timeout again.
  func ask(_ request: Data, timeoutSeconds: Double, heartbeat: Bool = false) -> Answer {
    if let death = reapNow() { return .gone(death) }
    if output >= 0 { _ = ftruncate(output, 0) }
    var line = request
    line.append(0x0A)
    switch write(line, until: deadline(timeoutSeconds)) {
    case .done: break
    case .closed: return .gone(reap(within: 5) ?? forceDeath())
    case .timeout: return .timedOut
    }
    switch readLine(until: deadline(timeoutSeconds), heartbeat: heartbeat, timeoutSeconds: timeoutSeconds) {
    case .line(let data): return .answer(data)
    case .timeout: return .timedOut
    case .end:
      if let death = reap(within: 5) { return .died(death) }
      // It closed its answers but lives on: as good as dead to us.
      return .died(forceDeath(why: "closed its answer descriptor and did not exit"))
    }
  }

  /// Kills it (SIGKILL) and reaps it, waiting a bounded time.
  func kill() {
    guard waitStatus == nil else { return }
    Glibc.kill(pid, SIGKILL)
    if reap(within: 10) == nil {
      FileHandle.standardError.write(
        Data("faultline: worker \(pid) did not exit within 10s of SIGKILL; left to the system to reap\n".utf8))
      waitStatus = 0
    }
    closeDescriptors()
  }

  /// Lets it go: closing its requests ends it; one that does not end in time is killed.
  func close() {
    if requests >= 0 {
      Glibc.close(requests)
      requests = -1
    }
    if waitStatus == nil && reap(within: 5) == nil { kill() }
    closeDescriptors()
  }

  // MARK: Reaping

  /// Its death if it has ended (reaped now), nil if it is still running.
  private func reapNow() -> WorkerDeath? {
    if let s = waitStatus { return WorkerDeath(waitStatus: s, message: lastWords()) }
    var status: Int32 = 0
    let r = waitpid(pid, &status, WNOHANG)
    if r == pid {
      waitStatus = status
      return WorkerDeath(waitStatus: status, message: lastWords())
    }
    if r < 0 && errno == ECHILD {
      waitStatus = 0
      return WorkerDeath(waitStatus: 0, message: lastWords())
    }
    return nil
  }

  /// Waits up to `seconds` for it to end.
  private func reap(within seconds: Double) -> WorkerDeath? {
    let end = deadline(seconds)
    var pause: UInt32 = 500
    while true {
      if let d = reapNow() { return d }
      if DispatchTime.now().uptimeNanoseconds >= end { return nil }
      usleep(pause)
      pause = min(pause * 2, 20_000)
    }
  }

  /// Kills it and says why it is as good as dead.
  private func forceDeath(why: String = "did not exit") -> WorkerDeath {
    kill()
    return WorkerDeath(garbled: why)
  }

  private func closeDescriptors() {
    for fd in [requests, answers] where fd >= 0 { Glibc.close(fd) }
    requests = -1
    answers = -1
  }

  // MARK: The protocol's descriptors

  private enum Read {
    case line(Data)
    case end
    case timeout
  }

  private enum Written {
    case done
    case closed
    case timeout
  }

  private func deadline(_ seconds: Double) -> UInt64 {
    DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
  }

  private func write(_ data: Data, until end: UInt64) -> Written {
    data.withUnsafeBytes { raw -> Written in
      var at = 0
      while at < raw.count {
        let n = Glibc.write(requests, raw.baseAddress! + at, raw.count - at)
        if n > 0 {
          at += n
          continue
        }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
          let now = DispatchTime.now().uptimeNanoseconds
          if now >= end { return .timeout }
          var p = pollfd(fd: requests, events: Int16(POLLOUT), revents: 0)
          _ = poll(&p, 1, Int32(min(1000, (end - now) / 1_000_000 + 1)))
          continue
        }
        return .closed  // EPIPE: nobody reads this any more
      }
      return .done
    }
  }

  /// The next line from the worker, waiting until `end` (moved on by heartbeats).
  private func readLine(until end: UInt64, heartbeat: Bool, timeoutSeconds: Double = 0) -> Read {
    var end = end
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      // A failure's answer is its whole result (hundreds of KiB for a filesystem's): look for the
      // newline only in what each read added.
      if let nl = pending[searched...].firstIndex(of: 0x0A) {
        let line = Data(pending[..<nl])
        pending.removeSubrange(...nl)
        searched = 0
        if heartbeat && line == Data("+".utf8) {
          end = deadline(timeoutSeconds)
          continue
        }
        return .line(line)
      }
      searched = pending.count
      let now = DispatchTime.now().uptimeNanoseconds
      guard now < end else { return .timeout }
      var p = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
      let ready = poll(&p, 1, Int32(min(1000, (end - now) / 1_000_000 + 1)))
      if ready <= 0 { continue }
      let n = read(answers, &chunk, chunk.count)
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return .end }
      pending.append(contentsOf: chunk[0..<n])
    }
  }

  /// What the worker printed last that says why it died: the runtime's `Fatal error` line and
  /// the like (`all`: everything it printed, for a worker that could not start).
  private func lastWords(all: Bool = false) -> String {
    guard output >= 0 else { return "" }
    let size = lseek(output, 0, SEEK_END)
    guard size > 0 else { return "" }
    let keep = min(Int(size), 16 << 10)
    var bytes = [UInt8](repeating: 0, count: keep)
    let n = pread(output, &bytes, keep, off_t(Int(size) - keep))
    guard n > 0 else { return "" }
    let text = String(decoding: bytes[0..<n], as: UTF8.self)
    if all {
      return text.split(separator: "\n").suffix(8).map { $0.trimmingCharacters(in: .whitespaces) }.joined(
        separator: "\n")
    }
    let markers = ["Fatal error", "runtime failure", "Precondition failed", "Assertion failed", "fatal error"]
    let line = text.split(separator: "\n").first { l in markers.contains { l.contains($0) } }
    return line.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
  }
}

/// A worker that could not be started: the sweep cannot go on (bad input: exit 2).
struct WorkerStartFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }
