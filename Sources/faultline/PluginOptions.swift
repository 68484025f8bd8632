import ArgumentParser
import FaultReports
import FaultlineEngines
import Foundation

/// `--engine-plugin PATH.so` (repeatable): C engines to load beside the built-in ones; `--kernel
/// PATH`: the User-Mode Linux kernel the linux engine boots.
struct PluginOptions: ParsableArguments {
  @Option(
    name: .customLong("engine-plugin"),
    help: "A shared object exporting faultline_engine (the C ABI, faultline.h); repeatable.")
  var paths: [String] = []

  @Option(
    name: .customLong("kernel"),
    help:
      "The User-Mode Linux kernel the linux engine boots (default: FAULTLINE_KERNEL, else the newest kernel scripts/build-kernel cached)."
  )
  var kernel: String?

  /// The plugins' files, absolute (what workers load, and what a sweep's inputs record).
  var files: [String] {
    let cwd = FileManager.default.currentDirectoryPath
    return paths.map { $0.hasPrefix("/") ? $0 : "\(cwd)/\($0)" }
  }

  /// The options that load the same engines, with absolute paths: what a command reproducing a
  /// failure of this run passes (`RunResults.engineOptions`); nil when there are none.
  var engineOptions: [String]? {
    var out = files.flatMap { ["--engine-plugin", $0] }
    if let kernel { out += ["--kernel", ReproCommand.absolute(kernel)] }
    return out.isEmpty ? nil : out
  }

  /// Makes the plugins part of the registry (and of every worker process's, through the
  /// environment). Call before anything reads the registry.
  /// - Throws: `BadInput` naming each plugin that did not load and why.
  func activate() throws {
    if let kernel {
      // Through the environment, so sweep workers boot the same kernel.
      let cwd = FileManager.default.currentDirectoryPath
      let path = kernel.hasPrefix("/") ? kernel : "\(cwd)/\(kernel)"
      guard FileManager.default.isExecutableFile(atPath: path) else {
        throw BadInput(
          description:
            "--kernel \(kernel): no such executable file (a User-Mode Linux kernel: scripts/build-kernel makes one)")
      }
      setenv("FAULTLINE_KERNEL", path, 1)
    }
    if !paths.isEmpty {
      setenv("FAULTLINE_ENGINE_PLUGINS", files.joined(separator: ":"), 1)
    }
    let errors = FaultlineEngines.pluginErrors
    if !errors.isEmpty { throw BadInput(description: errors.joined(separator: "\n")) }
  }
}
