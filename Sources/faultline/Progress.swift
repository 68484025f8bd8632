import ArgumentParser
import FaultKit
import FaultReports
import FaultlineEngines
import Foundation

/// Progress, on standard error (standard output stays the summary, for a pipe or a file): a
/// live line on a terminal; a plain line every few seconds otherwise (CI logs).
final class Progress {
  let quiet: Bool
  let tty = isatty(STDERR_FILENO) == 1
  var total: Int
  var done: Int
  var failed: Int
  /// Scenarios that found nothing but could not be judged: counted apart, as the summary does.
  var unjudged: Int
  let start = DispatchTime.now().uptimeNanoseconds
  var last: UInt64 = 0

  /// - Parameters:
  ///   - done: scenarios a resumed sweep's journal holds already; `failed`, `unjudged`: how many
  ///     of them failed, and how many could not be judged.
  init(quiet: Bool, total: Int, done: Int, failed: Int = 0, unjudged: Int = 0) {
    self.quiet = quiet
    self.total = total
    self.done = done
    self.failed = failed
    self.unjudged = unjudged
  }

  func step(_ o: SweepOutcome, added: Int) {
    done += 1
    total += added
    if o.unjudged == true { unjudged += 1 } else if o.failed { failed += 1 }
    guard !quiet else { return }
    let now = DispatchTime.now().uptimeNanoseconds
    guard now - last >= (tty ? 100_000_000 : 5_000_000_000) || done == total else { return }
    last = now
    let secs = Double(now - start) / 1e9
    let rate = secs > 0 ? Double(done) / secs : 0
    let eta = rate > 0 ? Double(total - done) / rate : 0
    var text = String(format: "%d/%d scenarios, %.0f/s, ETA %.0fs, %d failed", done, total, rate, eta, failed)
    if unjudged > 0 { text += ", \(unjudged) unjudged" }
    FileHandle.standardError.write(Data((tty ? "\r\(text)" : "\(text)\n").utf8))
  }

  func end() {
    if !quiet && tty { FileHandle.standardError.write(Data("\n".utf8)) }
  }
}

extension JSONEncoder {
  /// Sorted keys, no escaped slashes: the same value encodes to the same bytes.
  /// One encoder for the process (workers encode every answer with it): never reconfigured.
  static let sorted: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
  }()
}
