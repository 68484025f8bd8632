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

  /// Plans that take a name an earlier plan of `plans` has: an error at each such `plan:` naming
  /// where the first one is. A plan's name keys everything a run makes of it (its results, its
  /// JUnit testsuite, its repro files, `--compare` and the known-failures list), so two plans of
  /// one name would be one plan there.
  public static func duplicateNames(_ plans: [Plan]) -> [PlanError] {
    // Where each name was first given (looked up, never iterated: the errors follow `plans`).
    var first: [String: SourceLocation] = [:]
    var errors: [PlanError] = []
    for plan in plans {
      let here = plan.nameLocation ?? SourceLocation(file: plan.file, line: 1, column: 1)
      guard let earlier = first[plan.name] else {
        first[plan.name] = here
        continue
      }
      // The folder the file is in, as written (`Plans/ext4/x.yaml` → `ext4`; none for `x.yaml`).
      let dir = plan.file.split(separator: "/").dropLast().last.map(String.init) ?? ""
      errors.append(
        PlanError(
          here, key: "plan",
          expected:
            "a name no other plan has (results, reports, repro files and known failures know a plan by its name)",
          found: "'\(plan.name)', the name of the plan at \(earlier) too",
          hint: dir.isEmpty || dir == "."
            ? "rename one of them" : "rename one, e.g. '\(dir)-\(plan.name)'"))
    }
    return errors
  }

  /// The file name a directory scan skips: `Plans/known-failures.yaml` is the nightly sweep's
  /// list of accepted failures, not a plan.
  public static let knownFailuresFile = "known-failures.yaml"

  /// Every `*.yaml` and `*.yml` file under `paths` (but `known-failures.yaml`), recursively
  /// (symbolic links to directories followed), sorted by path without duplicates.
  /// A path naming a file is taken as it is, whatever its extension.
  /// - Throws: `PlanError` at path:1:1 for a path that is neither a file nor a directory, and for
  ///   an entry under a directory that cannot be walked: a dangling symbolic link, a link that
  ///   loops, a directory that cannot be read or that leads back to one it is in. A broken entry
  ///   is never skipped: it may be a plan that would silently not run.
  public static func planFiles(in paths: [String]) throws -> [String] {
    let fm = FileManager.default
    var found: Set<String> = []
    for path in paths {
      let start = SourceLocation(file: path, line: 1, column: 1)
      var isDirectory: ObjCBool = false
      guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlanError(
          start, key: "", expected: "a plan file or a directory of plans", found: brokenEntry(path) ?? "no such file")
      }
      guard isDirectory.boolValue else {
        found.insert(path)
        continue
      }
      var base = path
      while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
      try walk(base, ancestors: [], into: &found)
    }
    return found.sorted()
  }

  /// The deepest directory a scan descends to.
  static let maxDepth = 64

  /// Adds the plan files under directory `dir` to `found`. `ancestors` are the (device, inode)
  /// pairs of the directories above it: one of them again is a symbolic-link loop.
  private static func walk(_ dir: String, ancestors: [DirectoryID], into found: inout Set<String>) throws {
    let here = SourceLocation(file: dir, line: 1, column: 1)
    var st = stat()
    guard stat(dir, &st) == 0 else {
      throw PlanError(here, key: "", expected: "a readable directory of plans", found: brokenEntry(dir) ?? "nothing")
    }
    let id = DirectoryID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    if ancestors.contains(id) {
      throw PlanError(
        here, key: "", expected: "a directory of plans", found: "a symbolic link back to a directory it is in (a loop)")
    }
    guard ancestors.count < maxDepth else {
      throw PlanError(
        here, key: "", expected: "directories at most \(maxDepth) levels deep", found: "a deeper one")
    }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: dir)
    } catch {
      throw PlanError(
        here, key: "", expected: "a readable directory of plans",
        found: "a directory that cannot be read (\(reason(dir)))")
    }
    for name in names.sorted() {
      let full = dir == "/" ? "/" + name : dir + "/" + name
      var entry = stat()
      // stat follows symbolic links: a link that dangles or loops fails here, and says why.
      guard stat(full, &entry) == 0 else {
        throw PlanError(
          SourceLocation(file: full, line: 1, column: 1), key: "", expected: "a plan file or a directory of plans",
          found: brokenEntry(full) ?? "an entry that cannot be read")
      }
      if (entry.st_mode & S_IFMT) == S_IFDIR {
        try walk(full, ancestors: ancestors + [id], into: &found)
        continue
      }
      let lower = name.lowercased()
      guard lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") else { continue }
      // The nightly sweep's list of accepted failures lives beside the plans; it is no plan.
      if lower == PlanLoader.knownFailuresFile { continue }
      found.insert(full)
    }
  }

  /// A directory as the kernel names it.
  private struct DirectoryID: Hashable {
    let device: UInt64
    let inode: UInt64
  }

  /// What is wrong with `path` that `stat` fails on it, in words: a dangling or looping symbolic
  /// link, or the reason `stat` gives; nil when it does not fail.
  static func brokenEntry(_ path: String) -> String? {
    var st = stat()
    guard stat(path, &st) != 0 else { return nil }
    let e = errno
    var link = stat()
    if lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
      if e == ELOOP { return "a symbolic link that loops" }
      if e == ENOENT {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
        return "a dangling symbolic link (to '\(target)', which does not exist)"
      }
    }
    return e == ENOENT ? nil : String(cString: strerror(e))
  }

  /// Why a directory cannot be opened, as strerror says it.
  private static func reason(_ dir: String) -> String {
    guard let d = opendir(dir) else { return String(cString: strerror(errno)) }
    closedir(d)
    return "it vanished while it was read"
  }
}
