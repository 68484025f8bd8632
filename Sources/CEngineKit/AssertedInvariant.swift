import FaultKit

/// An invariant a C engine declares: violated when the engine's snapshot carries an assertion
/// with its name (the engine checked the rule itself and found it broken), or when `verify`
/// reports a finding under its name (the runner turns those into violations directly).
struct AssertedInvariant: Invariant {
  let name: InvariantName
  let checks: String
  let doesNotCheck: String

  func check(_ c: InvariantContext) -> [Violation] { asserted(c) }
}
