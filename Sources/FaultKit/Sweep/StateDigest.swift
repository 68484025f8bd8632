/// Where a scenario's run ended, as a short digest: what each operation returned, how the run
/// stopped, which invariants it violated, and the engine's state at rest as a diff from the state after setup. A depth-2 sweep
/// runs pairs under first faults whose digest is new to the plan before the others
/// (`ScenarioQueue`). Two first faults with one digest left the same visible state and outcomes,
/// which makes their pairs likely (not certain: see `FaultSpace`) to repeat each other; the
/// digest orders work and never prunes it.
public enum StateDigest {
  /// FNV-1a (64 bits) over the outcomes, the stop, the violations and the diff at rest, in hex.
  public static func of(_ r: ScenarioResult) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ s: String) {
      for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
      }
      h ^= 0x0A
      h = h &* 0x100_0000_01b3
    }
    for op in r.ops { mix("\(op.task)/\(op.index) \(op.outcome.description)") }
    mix(r.stop)
    for v in r.violations { mix(v.invariant.rawValue) }
    for line in r.diffAtRest { mix(line) }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }
}
