import FaultKit
import ModelKernel

/// `map-blocks-locked`: Jan Kara's rule from seed 004, judged by the kernel's lockdep at each
/// ext4_map_blocks call from the locks the calling task holds.
public struct MapBlocksLocked: Invariant {
  public static let ruleName: InvariantName = "map-blocks-locked"
  public init() {}
  public let name = MapBlocksLocked.ruleName
  public let checks = """
    Always: at every ext4_map_blocks (and ext4_da_map_blocks) call the engine announced, the \
    calling task held, as ModelKernel's lock primitives recorded it (not as the engine believes), \
    the inode's i_rwsem or its invalidate lock in either mode, or else the lock of the page over \
    every block the call maps. The engine only says what it calls on which blocks and why; the \
    rule is judged at that moment and a breach recorded with the locks held (assertions named \
    map-blocks-locked); this reads those records.
    """
  public let doesNotCheck = """
    Calls the engine does not announce (the unwritten conversion at I/O completion works on the \
    tree directly, as the kernel's end_io exemption allows), whether the page locked is still the \
    page in the cache, and whether a breach led to wrong data: extent-cache-coherent and \
    no-double-allocation judge that.
    """

  /// The rule for one call: every block needs i_rwsem or the invalidate lock (either mode), or
  /// the lock of its own page (page size is block size in ext4-model).
  public static let rule = LockRule(name: ruleName.rawValue) { call, held in
    let invalidateLock = "\(call.file) invalidate_lock"
    let whole = held.contains {
      $0.index == nil
        && (($0.kind == .inode && $0.name == call.file) || ($0.kind == .rwsem && $0.name == invalidateLock))
    }
    if whole { return nil }
    let bare = call.blocks.filter { b in !held.contains { $0.isPage(call.file, b) } }
    guard let first = bare.first else { return nil }
    let which = bare.count == 1 ? "block \(first)" : "\(bare.count) blocks from \(first)"
    return "\(which) without i_rwsem, invalidate_lock or its page lock"
  }

  public func check(_ c: InvariantContext) -> [Violation] {
    asserted(c, prefix: "ext4_map_blocks called without i_rwsem, invalidate_lock or page lock: ")
  }
}
