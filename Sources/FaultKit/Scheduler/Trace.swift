import Foundation

/// One event of a scenario's trace. Events carry names, not references, so a trace prints and
/// compares the same way in every run.
public enum TraceEvent: Sendable, Hashable, Codable {
  case opStart(task: String, op: Int, what: String)
  case opEnd(task: String, op: Int, outcome: String)
  case hit(Hit)
  case switched(from: String?, to: String, at: String)
  case blocked(task: String, on: String)
  case woken(task: String, by: String)
  case stopped(String)
  case note(String)

  /// The event as one line of text.
  public var line: String {
    switch self {
    case .opStart(let t, let n, let what): "\(t): op \(n) \(what)"
    case .opEnd(let t, let n, let o): "\(t): op \(n) -> \(o)"
    case .hit(let h):
      h.decision == "pass"
        ? "\(h.task): hit \(h.point)#\(h.hit) in \(h.op): pass"
        : "\(h.task): hit \(h.point)#\(h.hit) in \(h.op): \(h.decision)  <== injected"
    case .switched(let f, let t, let at): "switch \(f ?? "-") -> \(t) at \(at)"
    case .blocked(let t, let on): "\(t): blocks on \(on)"
    case .woken(let t, let by): "\(t): woken by \(by)"
    case .stopped(let why): "stop: \(why)"
    case .note(let s): s
    }
  }
}

/// The append-only trace of one scenario.
public final class Trace: @unchecked Sendable {
  public private(set) var events: [TraceEvent] = []
  /// `FAULTLINE_TRACE=1` streams every event to standard error as it happens: what is left to
  /// read when an engine traps and takes the scenario's result with it.
  static let live = ProcessInfo.processInfo.environment["FAULTLINE_TRACE"].map { $0 != "" && $0 != "0" } ?? false

  public init() { events.reserveCapacity(256) }
  public func append(_ e: TraceEvent) {
    events.append(e)
    if Trace.live { FileHandle.standardError.write(Data(("trace: " + e.line + "\n").utf8)) }
  }
}
