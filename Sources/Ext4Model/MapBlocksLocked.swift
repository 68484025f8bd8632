import FaultKit

/// `map-blocks-locked`: Jan Kara's rule from seed 004, asserted in the engine's ext4_map_blocks.
public struct MapBlocksLocked: Invariant {
  public static let ruleName: InvariantName = "map-blocks-locked"
  public init() {}
  public let name = MapBlocksLocked.ruleName
  public let checks = """
    Always: every ext4_map_blocks call the engine made so far was made by a task holding the \
    inode's i_rwsem, its invalidate lock, or the lock of the page over the block it mapped (the \
    engine asserts this at each call and records a breach as an assertion named \
    map-blocks-locked; this reads those records).
    """
  public let doesNotCheck = """
    Whether the lock held covers the right range beyond the one block (the page lock is checked \
    for the block's own page only), mappings made outside ext4_map_blocks (unwritten-extent \
    conversion at I/O completion works on the tree directly, as the kernel's end_io exemption \
    allows), and whether a breach led to wrong data: extent-cache-coherent and \
    no-double-allocation judge that.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    let breaches = c.current.assertions.filter { $0.rule == name.rawValue }
    guard !breaches.isEmpty else { return [] }
    let first = breaches[0].detail
    let more = breaches.count > 1 ? " (and \(breaches.count - 1) more)" : ""
    return [
      Violation(
        name, moment: c.moment, "ext4_map_blocks called without i_rwsem, invalidate_lock or page lock: \(first)\(more)",
        evidence: breaches.map(\.detail))
    ]
  }
}
