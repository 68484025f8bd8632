import ArgumentParser
import BuiltinEngines
import Foundation

/// `--engine-plugin PATH.so` (repeatable): C engines to load beside the built-in ones.
struct PluginOptions: ParsableArguments {
  @Option(
    name: .customLong("engine-plugin"),
    help: "A shared object exporting faultline_engine (the C ABI, faultline.h); repeatable.")
  var paths: [String] = []

  /// The plugins' files, absolute (what workers load, and what a sweep's inputs record).
  var files: [String] {
    let cwd = FileManager.default.currentDirectoryPath
    return paths.map { $0.hasPrefix("/") ? $0 : "\(cwd)/\($0)" }
  }

  /// Makes the plugins part of the registry (and of every worker process's, through the
  /// environment). Call before anything reads the registry.
  /// - Throws: `BadInput` naming each plugin that did not load and why.
  func activate() throws {
    if !paths.isEmpty {
      setenv("FAULTLINE_ENGINE_PLUGINS", files.joined(separator: ":"), 1)
    }
    let errors = BuiltinEngines.pluginErrors
    if !errors.isEmpty { throw BadInput(description: errors.joined(separator: "\n")) }
  }
}
