import Foundation

/// Why a worker process is gone, as waitpid said and its output showed.
struct WorkerDeath: Sendable, Hashable, CustomStringConvertible {
  /// The signal that ended it (nil: it exited, or it was given up on).
  let signal: Int32?
  /// Its exit status, when it exited.
  let status: Int32?
  /// What it said last that tells why (the runtime's `Fatal error` line), or why it was given up.
  var message: String?
  /// It misbehaved without dying of it (an answer that is not one, a closed descriptor).
  let garbled: Bool

  /// From a waitpid status: the low 7 bits are the signal (0: it exited, with the next 8 bits).
  init(waitStatus: Int32, message: String?) {
    let sig = waitStatus & 0x7F
    signal = sig == 0 ? nil : sig
    status = sig == 0 ? (waitStatus >> 8) & 0xFF : nil
    self.message = message?.isEmpty == false ? message : nil
    garbled = false
  }

  init(garbled why: String) {
    signal = nil
    status = nil
    message = why
    garbled = true
  }

  /// Signals that come from someone else (a user, a supervisor tearing the sweep down, the
  /// kernel's OOM killer), not from an engine's own fault; the sweep sends none of them but the
  /// SIGKILL of a timeout, which is never asked about here.
  var fromOutside: Bool {
    guard let signal else { return false }
    return [SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGQUIT].contains(signal)
  }

  /// What tells one crash from another in a signature: `SIGSEGV`, `exit-3`, `garbled`.
  var cause: String {
    if garbled { return "garbled" }
    if let signal { return Self.name(signal) }
    return "exit-\(status ?? -1)"
  }

  /// `killed by SIGSEGV (signal 11): …`, `exited with status 3`.
  var description: String {
    if garbled { return message ?? "misbehaved" }
    let how = signal.map { "killed by \(Self.name($0)) (signal \($0))" } ?? "exited with status \(status ?? -1)"
    return message.map { "\(how): \($0)" } ?? how
  }

  /// The signal's name, as in signal.h.
  static func name(_ s: Int32) -> String {
    let names: [Int32: String] = [
      SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
      SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
      SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
      SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
      SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGVTALRM: "SIGVTALRM",
      SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO", SIGSYS: "SIGSYS",
    ]
    return names[s] ?? "signal-\(s)"
  }
}
