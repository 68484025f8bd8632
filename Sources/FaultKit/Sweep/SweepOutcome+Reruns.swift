/// Reruns of a failure of an engine whose scheduling is not ours (`EngineDescriptor.deterministic`
/// false): the same scenario, run again in the same isolated way, tells a failure that
/// reproduces from one that happened once. A failure that reproduces in none of its reruns is
/// still reported, as flaky.
extension SweepOutcome {
  /// A failure worth running again: failed, crashed or timed out (an unjudged scenario found nothing).
  public var rerunnable: Bool { failed && unjudged != true }

  /// Whether `again`, a rerun of this outcome's scenario that answered, ended the same way: a
  /// judged failure with the same signature.
  public func isReproduced(by again: SweepOutcome) -> Bool {
    kind == .judged && again.kind == .judged && again.rerunnable && again.signature == signature
  }

  /// How a rerun that answered ended, in words, for a rerun that did not reproduce.
  public var endWords: String {
    if unjudged == true { return "was unjudged" }
    return failed ? "failed otherwise (\(signature))" : "passed"
  }

  /// This failure with its reruns counted: `ends` holds per rerun nil when it ended the same way,
  /// otherwise how it ended. None reproduced: flaky. The worker's encoding is dropped (the
  /// journal must write what the reruns added).
  public func withReruns(_ ends: [String?]) -> SweepOutcome {
    var o = self
    o.reruns = ends.count
    o.reproduced = ends.filter { $0 == nil }.count
    let others = ends.compactMap { $0 }
    o.rerunEnds = others.isEmpty ? nil : others
    if o.reproduced == 0 && !ends.isEmpty { o.flaky = true }
    o.encoded = nil
    return o
  }
}
