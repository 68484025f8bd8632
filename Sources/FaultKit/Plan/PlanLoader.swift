import Foundation

/// Reads plan files into typed, validated `Plan`s; every error is a `PlanError` that names
/// file:line:column, the key path, what was expected and what was found.
///
/// Plans/README.md is the format reference.
public struct PlanLoader: Sendable {
  /// The engines a plan may name.
  public let registry: EngineRegistry

  /// Makes a loader that resolves engine names, fault points and operations against `registry`.
  public init(registry: EngineRegistry) {
    self.registry = registry
  }

  /// Loads and validates one plan file.
  /// - Parameter path: The plan file.
  /// - Throws: `PlanError`, the first error found; a file that cannot be read is an error at path:1:1.
  public func load(file path: String) throws -> Plan {
    let start = SourceLocation(file: path, line: 1, column: 1)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw PlanError(start, key: "", expected: "a plan file", found: "no such file")
    }
    guard !isDirectory.boolValue else {
      throw PlanError(start, key: "", expected: "a plan file", found: "a directory")
    }
    // Size and kind before reading: a FIFO or /dev/zero would never end, a huge file fill memory.
    var st = stat()
    if stat(path, &st) == 0 {
      guard (st.st_mode & S_IFMT) == S_IFREG else {
        throw PlanError(start, key: "", expected: "a plan file", found: "a special file (a device, FIFO or socket)")
      }
      guard st.st_size <= PlanLimits.fileBytes else {
        throw PlanError(
          start, key: "", expected: "a plan file of at most \(PlanLimits.fileBytes >> 20) MiB",
          found: "\(st.st_size) bytes")
      }
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw PlanError(
        start, key: "", expected: "a readable plan file", found: "a file that cannot be read")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw PlanError(start, key: "", expected: "UTF-8 text", found: "bytes that are not UTF-8")
    }
    return try parse(text, file: path)
  }

  /// Parses and validates `text` as if it came from `file`.
  /// - Parameters:
  ///   - text: YAML plan text.
  ///   - file: The name errors and `Plan.file` carry.
  /// - Throws: `PlanError`, the first error found.
  public func parse(_ text: String, file: String) throws -> Plan {
    let root = try PlanValue.parse(text, file: file)
    return try PlanReader.read(root, file: file, registry: registry)
  }

  /// The file name a directory scan skips: `Plans/known-failures.yaml` is the nightly sweep's
  /// list of accepted failures, not a plan.
  public static let knownFailuresFile = "known-failures.yaml"

  /// Every `*.yaml` and `*.yml` file under `paths` (but `known-failures.yaml`), recursively,
  /// sorted by path without duplicates.
  /// A path naming a file is taken as it is, whatever its extension.
  /// - Throws: `PlanError` at path:1:1 for a path that is neither a file nor a directory.
  public static func planFiles(in paths: [String]) throws -> [String] {
    let fm = FileManager.default
    var found: Set<String> = []
    for path in paths {
      let start = SourceLocation(file: path, line: 1, column: 1)
      var isDirectory: ObjCBool = false
      guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlanError(
          start, key: "", expected: "a plan file or a directory of plans", found: "no such file")
      }
      guard isDirectory.boolValue else {
        found.insert(path)
        continue
      }
      var base = path
      while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
      guard let walker = fm.enumerator(atPath: base) else {
        throw PlanError(
          start, key: "", expected: "a readable directory", found: "a directory that cannot be read"
        )
      }
      for case let relative as String in walker {
        let name = relative.lowercased()
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
        // The nightly sweep's list of accepted failures lives beside the plans; it is no plan.
        if (name as NSString).lastPathComponent == PlanLoader.knownFailuresFile { continue }
        let full = base == "/" ? "/" + relative : base + "/" + relative
        var entryIsDirectory: ObjCBool = false
        if fm.fileExists(atPath: full, isDirectory: &entryIsDirectory), !entryIsDirectory.boolValue {
          found.insert(full)
        }
      }
    }
    return found.sorted()
  }
}
