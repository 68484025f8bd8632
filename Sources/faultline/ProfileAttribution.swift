import CFaultlineSupport
import Foundation

/// In a worker of a sweep with `--error-coverage` (a coverage build, `FAULTLINE_PROFILE_DIR` set):
/// the coverage counters of each engine's scenarios and recordings, written to that folder as
/// `<engine>.<pid>.<n>.profraw`, so each engine's handlers count what its own scenarios ran
/// (ModelKernel is shared by the model engines). Counters of anything else the worker does
/// (its start, shrinking, snapshots) are dropped.
///
/// Counters are written when the engine changes, when the worker ends, and at the first request
/// after `flushSeconds` since the last write (a worker killed for a timeout loses only what it ran
/// since then).
struct ProfileAttribution {
  static let environmentKey = "FAULTLINE_PROFILE_DIR"
  static let flushSeconds: UInt64 = 30

  /// The folder, or nil: nothing is done.
  let directory: String?
  private var current: String?
  private var written = 0
  private var lastWrite = DispatchTime.now().uptimeNanoseconds

  init(environment: [String: String] = ProcessInfo.processInfo.environment) {
    guard let dir = environment[Self.environmentKey], !dir.isEmpty, fl_profile_instrumented() == 1 else {
      directory = nil
      return
    }
    directory = dir
    // Nothing at exit but what this writes; nothing of the worker's start counted.
    fl_profile_set_filename("/dev/null")
    fl_profile_reset()
  }

  /// The next request is `engine`'s scenario or recording (nil: something else).
  mutating func request(of engine: String?) {
    guard directory != nil else { return }
    let engine = engine.flatMap { ErrorHandlerSources.builtIn.folders[$0] == nil ? nil : $0 }
    let now = DispatchTime.now().uptimeNanoseconds
    if engine != current || now - lastWrite >= Self.flushSeconds * 1_000_000_000 {
      flush()
      current = engine
    }
  }

  /// Writes the counters of the current engine (and zeroes them).
  mutating func flush() {
    guard let directory else { return }
    lastWrite = DispatchTime.now().uptimeNanoseconds
    guard let engine = current else {
      fl_profile_reset()
      return
    }
    let path = "\(directory)/\(engine).\(getpid()).\(written).profraw"
    written += 1
    if fl_profile_write_and_reset(path) != 0 {
      FileHandle.standardError.write(Data("faultline worker: cannot write coverage counters to \(path)\n".utf8))
    }
    fl_profile_set_filename("/dev/null")
  }
}
