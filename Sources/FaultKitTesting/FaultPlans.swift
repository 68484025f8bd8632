import FaultKit
import FaultReports
import Foundation
import Testing

/// One plan as a Swift Testing case: the plan as written (must pass), or the plan with one of its
/// `catches` bugs switched on (must fail with the invariants the plan names).
public struct FaultPlanCase: Sendable, Hashable, CustomTestStringConvertible {
  /// The plan file, absolute.
  public let file: String
  /// The file as the test list shows it (relative to the package root when under it).
  public let shown: String
  /// A bug switched on, for a `catches` case.
  public let bug: String?
  /// The invariants that must be among the violations with `bug` on.
  public let invariants: [InvariantName]

  public var testDescription: String { bug.map { "\(shown) --bug \($0)" } ?? shown }
}

/// Runs fault plans inside `swift test`, for Faultline and for a user's own package:
///
/// ```swift
/// let plans = FaultPlans(registry: EngineRegistry([MyEngine.descriptor]))
///
/// @Test(arguments: plans.cases(in: "Plans"))
/// func faultPlan(_ plan: FaultPlanCase) { plans.check(plan) }
/// ```
///
/// A failing case records one issue whose comment leads with the violated invariant and the
/// fault, then the evidence, the diff and the trace around the fault, as `faultline run` prints.
public struct FaultPlans: Sendable {
  public let registry: EngineRegistry
  public init(registry: EngineRegistry) { self.registry = registry }

  /// The package root: the nearest directory above `filePath` holding Package.swift (at most 32
  /// levels up), so plan paths resolve the same whatever directory the tests run from.
  public static func packageRoot(from filePath: String) -> URL {
    var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    for _ in 0..<32 {
      if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
      let up = dir.deletingLastPathComponent()
      if up.path == dir.path { break }
      dir = up
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
  }

  /// Cases for every plan file under `paths` (files or directories, relative to the package root
  /// of the calling file): each plan as written and, with `catches`, once per bug it catches.
  /// A path that does not exist or a plan that does not load becomes a case that fails with the
  /// loader's error (file:line:column), so a broken plan is a red test, never a missing one.
  public func cases(in paths: String..., catches: Bool = true, relativeTo filePath: String = #filePath)
    -> [FaultPlanCase]
  {
    let root = Self.packageRoot(from: filePath)
    let full = paths.map { $0.hasPrefix("/") ? $0 : root.appendingPathComponent($0).path }
    let files: [String]
    do { files = try PlanLoader.planFiles(in: full) } catch {
      return full.map { FaultPlanCase(file: $0, shown: $0, bug: nil, invariants: []) }
    }
    let loader = PlanLoader(registry: registry)
    return files.flatMap { f -> [FaultPlanCase] in
      let shown = f.hasPrefix(root.path + "/") ? String(f.dropFirst(root.path.count + 1)) : f
      let plain = FaultPlanCase(file: f, shown: shown, bug: nil, invariants: [])
      guard catches, let plan = try? loader.load(file: f) else { return [plain] }
      return [plain]
        + plan.catches.map { FaultPlanCase(file: f, shown: shown, bug: $0.bug, invariants: $0.invariants) }
    }
  }

  /// Runs the case and records an issue for each way it failed.
  public func check(_ c: FaultPlanCase, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    for message in failures(c) {
      Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
  }

  /// What `check` records: empty when the case holds.
  public func failures(_ c: FaultPlanCase) -> [String] {
    let plan: Plan
    do { plan = try PlanLoader(registry: registry).load(file: c.file) } catch { return ["\(error)"] }
    let runner = ScenarioRunner(registry: registry)
    do {
      guard let bug = c.bug else {
        var options = RunOptions()
        if !plan.faults.isEmpty { options.faultFree = try runner.faultFreeSnapshot(plan, options) }
        let r = try runner.run(plan, options)
        return r.passed ? [] : [Self.headline(r) + "\n\n" + TextReport.render(r)]
      }
      let r = try runner.run(plan, RunOptions(bugs: [bug]))
      if r.passed { return ["with --bug \(bug) the plan still passed: its oracle does not catch the bug"] }
      let violated = Set(r.violations.map(\.invariant))
      let missing = c.invariants.filter { !violated.contains($0) }
      guard !missing.isEmpty else { return [] }
      return [
        "with --bug \(bug): \(missing.map(\.rawValue).joined(separator: ", ")) not among the violations "
          + "(\(violated.map(\.rawValue).sorted().joined(separator: ", ")))\n\n" + TextReport.render(r)
      ]
    } catch {
      return ["\(c.shown): \(error)"]
    }
  }

  /// `locks-released, no-hang after alloc.data#2 fail: ENOSPC in cow-enospc-second-iteration`.
  static func headline(_ r: ScenarioResult) -> String {
    let what =
      r.violations.isEmpty
      ? "unexpected outcome: "
        + r.unexpected.map { "\($0.task)/\($0.index) \($0.op): \($0.outcome)" }
        .joined(separator: "; ")
      : r.violatedInvariants.map(\.rawValue).joined(separator: ", ")
    let faults = r.fired.filter { !$0.decision.hasPrefix("yield") }.map { "\($0.point)#\($0.hit) \($0.decision)" }
    return TerminalText.visible(
      what + (faults.isEmpty ? " with no fault fired" : " after " + faults.joined(separator: " + ")) + " in \(r.plan)")
  }
}
