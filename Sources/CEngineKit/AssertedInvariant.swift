import FaultKit

/// An invariant a C engine declares: violated when the engine's snapshot carries an assertion
/// with its name (the engine checked the rule itself and found it broken), or when `verify`
/// reports a finding under its name (the runner turns those into violations directly).
struct AssertedInvariant: Invariant {
  let name: InvariantName
  let checks: String
  let doesNotCheck: String

  func check(_ c: InvariantContext) -> [Violation] {
    let breaches = c.current.assertions.filter { $0.rule == name.rawValue }
    guard let first = breaches.first else { return [] }
    let more = breaches.count > 1 ? " (and \(breaches.count - 1) more)" : ""
    return [Violation(name, moment: c.moment, first.detail + more, evidence: breaches.map(\.detail))]
  }
}
