import FaultKit
import Foundation

/// The shell command that reproduces a failure, as the terminal, report.html and junit.xml print
/// it: pasted from any directory it runs the same scenario, because every path in it is absolute
/// (the repro file, the plan, each `--engine-plugin`, `--kernel`), and it loads the engines the
/// run loaded. Words a shell would split or expand are single-quoted.
public struct ReproCommand: Sendable, Hashable {
  /// How to start faultline: `faultline` when that name on PATH is this program, else this
  /// program's absolute path (a `swift run` build, `.build/release/faultline`).
  public let program: String
  /// The engine options of the run (`RunResults.engineOptions`).
  public let engineOptions: [String]
  /// The folder repro files are in (a run's report directory), absolute.
  public let directory: String

  /// - Parameter directory: where the run's repro files are, absolute or relative to the
  ///   current directory.
  public init(program: String = ReproCommand.invokedProgram(), engineOptions: [String] = [], directory: String = ".") {
    self.program = program
    self.engineOptions = engineOptions
    self.directory = Self.absolute(directory)
  }

  /// The command for `results`' repros in `directory`.
  public init(_ results: RunResults, directory: String) {
    self.init(engineOptions: results.engineOptions ?? [], directory: directory)
  }

  /// `faultline replay /abs/dir/repro/x.yaml [engine options]`: `repro` is relative to the
  /// directory, as results.json records it.
  public func replay(_ repro: String) -> String {
    words(["replay", Self.absolute(directory + "/" + repro)])
  }

  /// The command that reproduces `f`, a failure of a run made by `command` (`sweep`, `run`): its
  /// repro file replayed; for `run`, which writes none, the plan run again with the seed and
  /// schedule it failed under. nil when there is neither.
  public func reproduce(_ f: FailureGroup, of command: String) -> String? {
    if let repro = f.repro { return replay(repro) }
    guard command == "run", let r = f.result else { return nil }
    return run(file: r.file, seed: r.seed, scheduleSeed: f.scheduleSeed, bugs: r.bugs)
  }

  /// `faultline replay /abs/plan.yaml [engine options]`: a repro (or any plan) at `path`.
  public func replay(file path: String) -> String { words(["replay", Self.absolute(path)]) }

  /// `faultline run /abs/plan.yaml --seed S [--schedule-seed T] [--bug B]… [engine options]`:
  /// one run of a plan as written.
  public func run(file: String, seed: UInt64, scheduleSeed: UInt64? = nil, bugs: [String]) -> String {
    var w = ["run", Self.absolute(file), "--seed", "\(seed)"]
    if let scheduleSeed { w += ["--schedule-seed", "\(scheduleSeed)"] }
    for b in bugs { w += ["--bug", b] }
    return words(w)
  }

  func words(_ w: [String]) -> String {
    ([program] + w + engineOptions).map(Self.quote).joined(separator: " ")
  }

  /// `path` made absolute against the current directory, with `.` and `..` resolved.
  public static func absolute(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return URL(fileURLWithPath: full).standardizedFileURL.path
  }

  /// The word as a POSIX shell reads it back: as is when it is plain, else single-quoted.
  public static func quote(_ s: String) -> String {
    let plain =
      !s.isEmpty
      && s.unicodeScalars.allSatisfy { c in
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
          || "@%+=:,./_-".unicodeScalars.contains(c)
      }
    return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// `faultline` when PATH finds this very program under that name; else its absolute path.
  public static func invokedProgram() -> String {
    let fm = FileManager.default
    let me = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? absolute(CommandLine.arguments[0])
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":") {
      let candidate = "\(dir)/faultline"
      guard fm.isExecutableFile(atPath: candidate) else { continue }
      // The first on PATH is what a pasted `faultline` runs.
      let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
      return resolved == URL(fileURLWithPath: me).resolvingSymlinksInPath().path ? "faultline" : me
    }
    return me
  }
}
