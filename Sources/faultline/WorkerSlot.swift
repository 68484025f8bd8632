import Foundation

/// One job's worker process, and the rules every request to a worker goes by:
/// - a worker that was gone before it took the request (it died between requests, or closed its
///   end) is replaced and the request sent again: the request played no part (3 times in a row
///   is an error of the sweep);
/// - a worker killed from outside (SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGQUIT: the sweep sends
///   none of them to a worker it is waiting for) is replaced after a pause and the request sent
///   again: a sweep being torn down dies in that pause and records nothing; a request whose
///   worker is killed 3 times running (the OOM killer) is recorded as crashed with that signal;
/// - an answer that is not one is a crash (`garbled`); a worker that does not answer in time is
///   killed and the request timed out;
/// - `confirmed` runs a request that crashed or timed out once more, in a fresh worker.
struct WorkerSlot {
  let timeoutSeconds: Double
  /// Workers' standard output and error are this process's standard error (`replay`).
  var inheritOutput = false
  private(set) var worker: Worker?

  init(timeoutSeconds: Double, inheritOutput: Bool = false) {
    self.timeoutSeconds = timeoutSeconds
    self.inheritOutput = inheritOutput
  }

  enum Attempt<T> {
    case answer(T)
    case crashed(WorkerDeath)
    case timedOut

    var failed: Bool { if case .answer = self { false } else { true } }
  }

  /// A request's first attempt and its reruns: when it crashed or timed out, at least one in a
  /// fresh worker; for an engine that is not deterministic, `--reruns` of a failure.
  struct Confirmed<T> {
    let first: Attempt<T>
    let reruns: [Attempt<T>]
    /// The first rerun, if any.
    var again: Attempt<T>? { reruns.first }

    init(first: Attempt<T>, reruns: [Attempt<T>]) {
      self.first = first
      self.reruns = reruns
    }

    init(first: Attempt<T>, again: Attempt<T>?) { self.init(first: first, reruns: again.map { [$0] } ?? []) }
  }

  /// Sends `request` to this slot's worker (starting one when there is none) and decodes the
  /// answer with `decode`.
  /// - Throws: `WorkerStartFailure` when no worker can be started; `WorkerReportedError` (from
  ///   `decode`) when the worker reported bad input.
  mutating func attempt<T>(_ request: Data, heartbeat: Bool = false, decode: (Data) throws -> T) throws -> Attempt<T> {
    var gone = 0
    var outside = 0
    while true {
      if worker == nil { worker = try Worker(inheritOutput: inheritOutput) }
      switch worker!.ask(request, timeoutSeconds: timeoutSeconds, heartbeat: heartbeat) {
      case .answer(let data):
        do {
          return .answer(try decode(data))
        } catch let e as WorkerReportedError {
          throw e
        } catch {
          worker!.kill()
          worker = nil
          return .crashed(
            WorkerDeath(garbled: "answered with something that is not an answer (\(data.count) bytes: \(error))"))
        }
      case .gone(let death):
        worker = nil
        gone += 1
        if gone >= 3 { throw WorkerStartFailure("workers died between requests 3 times in a row (the last: \(death))") }
      case .died(let death) where death.fromOutside:
        worker = nil
        outside += 1
        if outside >= 3 {
          return .crashed(
            death.saying("3 times, in fresh workers; the sweep sends no such signal (the kernel's OOM killer?)"))
        }
        usleep(250_000)
      case .died(let death):
        worker = nil
        return .crashed(death)
      case .timedOut:
        worker!.kill()
        worker = nil
        return .timedOut
      }
    }
  }

  /// `attempt`, and when it crashed or timed out, once more in a fresh worker (`reruns` times,
  /// when more); when it answered and `rerun` says the answer is a failure to run again, `reruns`
  /// more times, each an `attempt` of its own (a worker that dies is replaced as ever).
  mutating func confirmed<T>(
    _ request: Data, heartbeat: Bool = false, reruns: Int = 0, rerun: (T) -> Bool = { _ in false },
    decode: (Data) throws -> T
  ) throws -> Confirmed<T> {
    let first = try attempt(request, heartbeat: heartbeat, decode: decode)
    let n: Int
    switch first {
    case .answer(let a): n = rerun(a) ? reruns : 0
    case .crashed, .timedOut: n = max(1, reruns)
    }
    var again: [Attempt<T>] = []
    for _ in 0..<n { again.append(try attempt(request, heartbeat: heartbeat, decode: decode)) }
    return Confirmed(first: first, reruns: again)
  }

  /// Lets the worker go.
  mutating func close() {
    worker?.close()
    worker = nil
  }
}

extension WorkerDeath {
  /// The same death, with `words` for what it said.
  func saying(_ words: String) -> WorkerDeath {
    var d = self
    d.message = words
    return d
  }
}

extension WorkerSlot.Attempt: Sendable where T: Sendable {}
extension WorkerSlot.Confirmed: Sendable where T: Sendable {}
