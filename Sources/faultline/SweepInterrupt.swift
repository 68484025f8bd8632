import CFaultlineSupport
import FaultKit
import Foundation

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP during a sweep: the progress line is ended, the user is
/// told what was kept and the command that continues, and the sweep exits 128 + the signal.
/// Nothing needs saving first: every finished scenario is already a whole line of the journal
/// (a torn last line is cut off on resume), and reports are written whole or not at all.
final class SweepInterrupt: @unchecked Sendable {
  /// Handles the signals from now until the process ends: a thread waits for the byte the signal
  /// handler (C, async-signal-safe) writes to a pipe, then ends the line, says what to do and exits.
  /// - Parameters:
  ///   - progressOpen: whether a progress line may be open on standard error (a terminal).
  ///   - journal: the journal, named in the message.
  ///   - resumeCommand: the command line that continues the sweep.
  ///   - lock: the report directory's lock file, given up on the way out.
  init(progressOpen: Bool, journal: String, resumeCommand: String, lock: String) {
    let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    let fd = signals.withUnsafeBufferPointer { fl_signals_to_pipe($0.baseAddress, Int32($0.count)) }
    guard fd >= 0 else { return }
    let thread = Thread {
      var byte: UInt8 = 0
      // Blocks until a signal; a read interrupted by one is tried again.
      while read(fd, &byte, 1) != 1 {}
      let sig = Int32(byte)
      if progressOpen { _ = IOFailure.writeAll(STDERR_FILENO, Data("\n".utf8)) }
      let name = sig == SIGINT ? "interrupted" : sig == SIGTERM ? "terminated" : "hung up"
      let text = "\(name): every scenario that finished is in \(journal); to continue: \(resumeCommand)"
      _ = IOFailure.writeAll(STDERR_FILENO, Data((TerminalText.visible(text) + "\n").utf8))
      unlink(lock)
      _exit(128 + sig)
    }
    thread.start()
  }

  /// This command line with `--resume DIR` in place of any `--report-dir`/`--resume`, quoted
  /// for a POSIX shell.
  static func resumeCommand(_ arguments: [String], directory: String) -> String {
    (["faultline"] + sweepArguments(arguments) + ["--resume", directory]).map(quote).joined(separator: " ")
  }

  /// The arguments after the program name, less any `--report-dir`/`--resume` and their values:
  /// what `meta.json` records for `sweep --resume DIR` alone.
  static func sweepArguments(_ arguments: [String]) -> [String] {
    var out: [String] = []
    var i = 1
    // Each pass consumes one or two arguments: the loop ends.
    while i < arguments.count {
      let a = arguments[i]
      if a == "--report-dir" || a == "--resume" {
        i += 2
        continue
      }
      if a.hasPrefix("--report-dir=") || a.hasPrefix("--resume=") {
        i += 1
        continue
      }
      out.append(a)
      i += 1
    }
    return out
  }

  static func quote(_ s: String) -> String {
    let plain = s.unicodeScalars.allSatisfy {
      $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./=:,+@%".unicodeScalars.contains($0))
    }
    return plain && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}
