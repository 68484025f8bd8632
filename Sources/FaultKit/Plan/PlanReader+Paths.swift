/// Paths no one makes: an operation on a path that neither the setup nor any operation of the
/// plan creates fails with ENOENT in every scenario, which a plan almost never means.
extension PlanReader {
  /// Operations that make their `path` (`rename` makes its `target`).
  static let creators: Set<OpKind> = [.create, .mkdir, .link, .symlink]

  /// An error for each operation on a path nothing creates, unless the plan expects that
  /// operation to fail. `setupPaths`: what the engine says its setup makes (nil: it does not
  /// say, and nothing is checked).
  func uncreatedPaths(_ tasks: [PlanTask], setupPaths: [String]?, expect: Expectations) -> [PlanError] {
    guard let setupPaths else { return [] }
    var made = Set(setupPaths)
    made.insert("/")
    for t in tasks {
      for op in t.ops {
        if Self.creators.contains(op.kind) { made.insert(op.path) }
        if op.kind == .rename, let target = op.target { made.insert(target) }
      }
    }
    let known = made.subtracting(["/"]).sorted()
    var out: [PlanError] = []
    for (ti, t) in tasks.enumerated() {
      // A control file is the kernel's, not the plan's.
      for (k, op) in t.ops.enumerated() where !made.contains(op.path) && op.kind != .control {
        guard expect.outcome(task: t.name, index: k, kind: op.kind) == .ok, let at = op.location else { continue }
        out.append(
          PlanError(
            at, key: "tasks[\(ti)].ops[\(k)].\(op.kind.rawValue).path",
            expected:
              "a path the setup makes or an operation of the plan creates (create, mkdir, link, symlink, rename); or an expected error for this operation",
            found: "'\(op.path)', which nothing creates",
            hint: DidYouMean.hint(op.path, among: known)))
      }
    }
    return out
  }
}

/// The paths a setup section makes in the conventional shape the built-in engines share:
/// `files: [ { path: /a } ]` and `dirs: [ /d ]`.
public enum SetupPaths {
  public static func conventional(_ setup: PlanValue?) -> [String] {
    guard let setup, let m = try? PlanMap(setup, path: "setup", keys: keysOf(setup)) else { return [] }
    var out: [String] = []
    if case .seq(let files, _)? = m.value("files") {
      for f in files {
        if let fm = try? PlanMap(f, path: "", keys: keysOf(f)), let p = try? fm.string("path") { out.append(p) }
      }
    }
    if case .seq(let dirs, _)? = m.value("dirs") {
      for d in dirs { if case .scalar(let p, _) = d { out.append(p) } }
    }
    return out
  }

  static func keysOf(_ v: PlanValue) -> [String] {
    if case .map(let entries, _) = v { return entries.map(\.key) }
    return []
  }
}
