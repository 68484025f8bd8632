import FaultKit
import Foundation

/// Which sources hold each built-in engine's error handlers, and their inventory
/// (`ErrorHandlerInventory`), read from the package this faultline was built from.
///
/// A model engine's inventory includes ModelKernel, which every model engine runs on: a
/// ModelKernel handler counts for an engine when that engine's scenarios reached it. The linux
/// engine (its handlers are the kernel's: kcov, later) and plugins have none.
struct ErrorHandlerSources: Sendable {
  /// The package root the folders are in.
  let root: String
  /// Engine name → folders (relative to `root`) whose .swift and .c files are its code.
  let folders: [String: [String]]
  /// Files of those folders left out, with why.
  let excluded: [String: String]

  /// The built-in engines' sources, in the package this faultline was built from.
  static let builtIn = ErrorHandlerSources(root: packageRoot, folders: builtInFolders, excluded: builtInExcluded)

  static let builtInFolders: [String: [String]] = [
    "btrfs-model": ["Sources/BtrfsModel", "Sources/ModelKernel"],
    "xfs-model": ["Sources/XfsModel", "Sources/ModelKernel"],
    "ext4-model": ["Sources/Ext4Model", "Sources/ModelKernel"],
    "ext2fs": ["Sources/CExt2fsEngine"],
  ]

  /// Files of those folders that are not the engine's error paths, with why: their errors are
  /// bad input (a plan's setup, a malformed request), which no scenario runs into.
  static let builtInExcluded: [String: String] = [
    "Sources/ModelKernel/ModelSetup.swift":
      "parses a plan's setup: its errors are bad input, reported before any scenario",
    "Sources/CExt2fsEngine/fx_json.c":
      "parses faultline's JSON requests: its errors are malformed requests, not filesystem errors",
  ]

  /// The package root this file was compiled in (what the coverage mapping's paths start with).
  static let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// The source files of `engine`, relative to the package root, sorted; nil for an engine with
  /// no inventory.
  /// - Throws: `BadInput` when a folder is missing (faultline runs away from its sources).
  func files(of engine: String) throws -> [String]? {
    guard let dirs = folders[engine] else { return nil }
    var out: [String] = []
    for d in dirs {
      let path = root + "/" + d
      guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
        throw BadInput(
          description:
            "--error-coverage: \(path) is missing; error handlers are read from the sources this faultline was built from"
        )
      }
      for n in names where n.hasSuffix(".swift") || n.hasSuffix(".c") {
        if excluded[d + "/" + n] == nil { out.append(d + "/" + n) }
      }
    }
    return out.sorted()
  }

  /// The error-handling sites of `engine`'s sources, sorted by file and position, without those
  /// a marker calls not an error path for it (`notErrorPaths`); nil for an engine with no
  /// inventory.
  /// - Throws: `BadInput` when a source cannot be read.
  func inventory(of engine: String) throws -> [ErrorHandlerSite]? {
    try allSites(of: engine)?.filter { !Self.notAnErrorPath($0, engine) }
  }

  /// The sites of `engine`'s sources a marker calls not an error path (`ErrorPathMarker`), which
  /// the inventory leaves out.
  func notErrorPaths(of engine: String) throws -> [ErrorHandlerSite] {
    try allSites(of: engine)?.filter { Self.notAnErrorPath($0, engine) } ?? []
  }

  static func notAnErrorPath(_ s: ErrorHandlerSite, _ engine: String) -> Bool {
    s.marker.map { $0.verdict == .notAnErrorPath && $0.applies(to: engine) } ?? false
  }

  private func allSites(of engine: String) throws -> [ErrorHandlerSite]? {
    guard let files = try files(of: engine) else { return nil }
    var sites: [ErrorHandlerSite] = []
    for f in files {
      guard let text = try? String(contentsOfFile: root + "/" + f, encoding: .utf8) else {
        throw BadInput(description: "--error-coverage: cannot read \(root)/\(f)")
      }
      sites += ErrorHandlerInventory.sites(in: text, file: f, language: f.hasSuffix(".c") ? .c : .swift)
    }
    return sites.sorted()
  }

  /// A source of `engines` changed after `binary` was built: the counters' lines would not be
  /// the sources' lines. The first such file, or nil.
  func newerThan(_ binary: String, engines: [String]) throws -> String? {
    let fm = FileManager.default
    guard let built = (try? fm.attributesOfItem(atPath: binary))?[.modificationDate] as? Date else { return nil }
    for e in engines {
      for f in try files(of: e) ?? [] {
        if let m = (try? fm.attributesOfItem(atPath: root + "/" + f))?[.modificationDate] as? Date, m > built {
          return f
        }
      }
    }
    return nil
  }
}
