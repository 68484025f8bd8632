import FaultKit
import FaultReports
import Foundation

/// A known-failures file (`--known`): findings a nightly expects, each a plan, the exact
/// signature a sweep prints, why it is accepted, and optionally the scenario that showed it
/// (its key in results.json), which lets a run that passes that scenario call it fixed.
///
/// `known: [ { plan: NAME, signature: "…", why: "…", scenario: "…" } ]`
struct KnownFailures {
  struct Entry {
    let key: RunComparison.Key
    let scenario: String?
    /// Where the entry and its plan and signature are written.
    let location: SourceLocation
    let planLocation: SourceLocation
    let signatureLocation: SourceLocation
  }
  let path: String
  let entries: [Entry]

  /// The entries as a comparison takes them: each key with its scenario, if given.
  var keys: [RunComparison.Key: [String]] {
    var out: [RunComparison.Key: [String]] = [:]
    for e in entries { out[e.key, default: []] += e.scenario.map { [$0] } ?? [] }
    return out
  }

  /// - Throws: `BadInput` naming file:line:column and what was expected.
  static func read(_ path: String) throws -> KnownFailures {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw BadInput(description: "\(path):1:1: error: cannot read the known-failures file")
    }
    do {
      let top = try PlanMap(try PlanValue.parse(text, file: path), path: "", keys: ["known"])
      guard let list = top.value("known") else { return KnownFailures(path: path, entries: []) }
      let entries = try list.list("known").enumerated().map { i, item in
        let m = try PlanMap(item, path: "known[\(i)]", keys: ["plan", "signature", "why", "scenario"])
        guard let plan = try m.string("plan"), let sig = try m.string("signature") else {
          throw PlanError(
            m.location, key: "known[\(i)]", expected: "plan and signature",
            found: m.has("plan") ? "no signature" : "no plan")
        }
        return Entry(
          key: RunComparison.Key(plan: plan, signature: sig), scenario: try m.string("scenario"), location: m.location,
          planLocation: m.value("plan")?.location ?? m.location,
          signatureLocation: m.value("signature")?.location ?? m.location)
      }
      return KnownFailures(path: path, entries: entries)
    } catch let e as PlanError {
      throw BadInput(description: e.description)
    }
  }

  /// Entries that cannot be what they say against the run they are applied to. A plan name the
  /// run lacks but nearly has is a typo: an error (exit 2). A plan the run lacks and nothing
  /// near (a known file shared by runs of other plans), or a signature the run did not show but
  /// one of that plan's signatures nearly is: a warning, located, since the run may simply not
  /// have reached it.
  /// - Returns: the warnings, one line each.
  /// - Throws: `BadInput` listing every typo'd plan name, each at file:line:column.
  func check(against run: RunResults) throws -> [String] {
    let plans = run.plans.map(\.plan)
    var errors: [String] = []
    var warnings: [String] = []
    for (i, e) in entries.enumerated() {
      guard let p = run.plans.first(where: { $0.plan == e.key.plan }) else {
        if let near = DidYouMean.suggest(e.key.plan, among: plans) {
          errors.append(
            PlanError(
              e.planLocation, key: "known[\(i)].plan", expected: "the name of a plan of this run",
              found: "'\(e.key.plan)'", hint: "did you mean '\(near)'?"
            ).description)
        } else {
          warnings.append(
            TerminalText.visible(
              "\(e.planLocation): warning: known[\(i)].plan: '\(e.key.plan)' is not a plan of this run; the entry is not checked"
            ))
        }
        continue
      }
      let sigs = p.failures.map(\.signature)
      if !sigs.contains(e.key.signature), let near = DidYouMean.suggest(e.key.signature, among: sigs) {
        warnings.append(
          TerminalText.visible(
            "\(e.signatureLocation): warning: known[\(i)].signature: no scenario of plan \(e.key.plan) showed it in this run; did you mean '\(near)'?"
          ))
      }
    }
    if !errors.isEmpty { throw BadInput(description: errors.joined(separator: "\n")) }
    return warnings
  }
}
