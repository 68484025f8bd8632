import CFaultlineSupport
import FaultKit
import Foundation

/// Error-handler coverage from a coverage build's counters: the workers' `<engine>.*.profraw`
/// files in a profile folder (`ProfileAttribution`) merged per engine with llvm-profdata, exported
/// for the engine's sources with llvm-cov, and read at each site of the engine's inventory.
///
/// The llvm tools must be the ones of the compiler that built faultline (the profile format is
/// the compiler's): beside `swift` first, then `FAULTLINE_LLVM_BIN`, then PATH.
struct ErrorCoverageMeasure {
  let profdata: String
  let cov: String
  /// This program (the workers run it too): what llvm-cov reads the coverage mapping from.
  let binary: String
  let sources: ErrorHandlerSources

  /// The command that builds a faultline able to measure.
  static let buildCommand =
    "scripts/faultline --error-coverage … (it builds .build-cov/release/faultline with swift build -c release --enable-code-coverage -Xcc -fprofile-instr-generate -Xcc -fcoverage-mapping)"

  /// Ready to measure `engines`, or `BadInput` saying what is missing (exit 2): a build without
  /// counters, no llvm tools, sources missing or changed since the build.
  static func ready(for engines: [String], sources: ErrorHandlerSources = .builtIn) throws -> ErrorCoverageMeasure {
    guard fl_profile_instrumented() == 1 else {
      throw BadInput(
        description:
          "--error-coverage: this faultline has no coverage counters; build one that has: \(buildCommand)")
    }
    guard let profdata = tool("llvm-profdata"), let cov = tool("llvm-cov") else {
      throw BadInput(
        description:
          "--error-coverage: llvm-profdata and llvm-cov of the Swift toolchain are needed (looked beside swift, in FAULTLINE_LLVM_BIN and on PATH)"
      )
    }
    let binary =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    for e in engines { _ = try sources.files(of: e) }
    if let changed = try sources.newerThan(binary, engines: engines) {
      throw BadInput(
        description:
          "--error-coverage: \(sources.root)/\(changed) changed after \(binary) was built: its counters' lines would not be the source's; rebuild: \(buildCommand)"
      )
    }
    return ErrorCoverageMeasure(profdata: profdata, cov: cov, binary: binary, sources: sources)
  }

  /// An llvm tool: beside the `swift` on PATH (its real path), in `FAULTLINE_LLVM_BIN`, on PATH.
  static func tool(_ name: String) -> String? {
    let env = ProcessInfo.processInfo.environment
    let path = (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
    var dirs: [String] = []
    for p in path where FileManager.default.isExecutableFile(atPath: p + "/swift") {
      let real = URL(fileURLWithPath: p + "/swift").resolvingSymlinksInPath().deletingLastPathComponent().path
      dirs.append(real)
      break
    }
    if let d = env["FAULTLINE_LLVM_BIN"] { dirs.append(d) }
    dirs += path
    return dirs.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// The ids of `engine`'s error handlers the profiles in `folder` reached (its `<engine>.*.profraw`
  /// files and a `<engine>.profdata` merged before), merging the raw files into that profdata.
  /// - Throws: `ResultsError` when a tool fails, the profiles are not this build's, or there is
  ///   no profile of the engine at all.
  func reachedHandlerIDs(profiles folder: URL, engine: String) throws -> Set<String> {
    guard let inventory = try sources.inventory(of: engine) else { return [] }
    let counts = try segments(profiles: folder, engine: engine)
    // A file with handlers but no counters was built without them (a C target without clang's
    // flags): its handlers are not measured, not unreached.
    for file in Set(inventory.map(\.file)).sorted() where counts.files[sources.root + "/" + file] == nil {
      throw ResultsError(
        message: "\(file) has no coverage counters in \(binary) (built without them?); rebuild: \(Self.buildCommand)")
    }
    var reached = Set<String>()
    for site in inventory {
      if let n = counts.count(file: sources.root + "/" + site.file, line: site.line, column: site.column), n > 0 {
        reached.insert(site.id)
      }
    }
    return reached
  }

  /// Each engine's coverage; engines with no inventory are not measured, with the reason.
  func coverage(profiles folder: URL, engines: [String], note: String?) -> [EngineErrorCoverage] {
    engines.sorted().map { engine in
      do {
        guard let inventory = try sources.inventory(of: engine) else {
          return EngineErrorCoverage(
            engine: engine,
            notMeasured: engine == "linux"
              ? "the kernel's error handlers are not counted (kcov, later)"
              : "no error-handler inventory for this engine")
        }
        let reached = try reachedHandlerIDs(profiles: folder, engine: engine)
        return EngineErrorCoverage(engine: engine, inventory: inventory, reachedIDs: reached, note: note)
      } catch {
        return EngineErrorCoverage(engine: engine, notMeasured: "\(error)")
      }
    }
  }

  /// The engine's profiles merged (into `<engine>.profdata`, the raw files removed once merged)
  /// and exported for its sources.
  private func segments(profiles folder: URL, engine: String) throws -> CoverageSegments {
    let fm = FileManager.default
    let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
    let raw = names.filter { $0.hasPrefix(engine + ".") && $0.hasSuffix(".profraw") }.sorted()
    let merged = folder.appendingPathComponent(engine + ".profdata")
    var inputs = raw.map { folder.appendingPathComponent($0).path }
    if fm.fileExists(atPath: merged.path) { inputs.append(merged.path) }
    guard !inputs.isEmpty else {
      throw ResultsError(message: "no coverage counters were written for \(engine) (its workers were all killed?)")
    }
    // Merged to a temporary file, renamed over the engine's profdata: an interrupted merge leaves
    // the old one whole.
    let temp = folder.appendingPathComponent(".\(engine).profdata.tmp")
    let list = folder.appendingPathComponent(".\(engine).inputs")
    try Data((inputs.joined(separator: "\n") + "\n").utf8).write(to: list)
    defer { try? fm.removeItem(at: list) }
    _ = try run(
      profdata, ["merge", "-sparse", "-f", list.path, "-o", temp.path], what: "llvm-profdata merge",
      errors: folder.appendingPathComponent(".\(engine).err"))
    guard rename(temp.path, merged.path) == 0 else {
      throw ResultsError(message: "cannot rename \(temp.path) to \(merged.path): \(String(cString: strerror(errno)))")
    }
    for r in raw { try? fm.removeItem(at: folder.appendingPathComponent(r)) }
    let files = (try sources.files(of: engine) ?? []).map { sources.root + "/" + $0 }
    let export = try run(
      cov, ["export", "-format=text", "-skip-functions", "-instr-profile", merged.path, binary] + files,
      what: "llvm-cov export", errors: folder.appendingPathComponent(".\(engine).err"))
    return try CoverageSegments(export: export)
  }

  /// Runs a tool; its standard output, or `ResultsError` with the start of its standard error
  /// (kept in `errors`, a file of ours, so a chatty tool never blocks on a full pipe).
  private func run(_ tool: String, _ args: [String], what: String, errors: URL) throws -> Data {
    let fm = FileManager.default
    guard fm.createFile(atPath: errors.path, contents: nil), let errHandle = try? FileHandle(forWritingTo: errors)
    else {
      throw ResultsError(message: "\(what): cannot write \(errors.path)")
    }
    defer { try? fm.removeItem(at: errors) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = errHandle
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    try? errHandle.close()
    guard p.terminationStatus == 0 else {
      let said = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
      throw ResultsError(
        message:
          "\(what) failed (status \(p.terminationStatus)): \(said.split(separator: "\n").prefix(3).joined(separator: "; "))"
      )
    }
    return data
  }
}
