import FaultKit

/// What the extent-status tree knows about a block range (`EXTENT_STATUS_*`).
enum ExtentStatus: String, Sendable, Hashable {
  case written, unwritten, delayed, hole
}

/// One entry of the extent-status tree (`struct extent_status`).
struct StatusEntry: Sendable, Hashable {
  var lblk: UInt64
  var len: UInt64
  /// Device block of `lblk` (written and unwritten entries only).
  var pblk: UInt64?
  var status: ExtentStatus

  var end: UInt64 { lblk + len }

  /// The part of this entry inside [lo, hi), nil if none.
  func clipped(_ lo: UInt64, _ hi: UInt64) -> StatusEntry? {
    let s = max(lblk, lo)
    let e = min(end, hi)
    guard s < e else { return nil }
    return StatusEntry(lblk: s, len: e - s, pblk: pblk.map { $0 + (s - lblk) }, status: status)
  }
}

/// An inode's extent-status cache (`ext4_es_tree`): what ext4 believes about its blocks without
/// reading the extent tree. Delayed entries are the only record of delalloc, so they are never
/// dropped to save memory. Entries are kept as inserted, never merged (ext4 merges neighbours
/// with contiguous blocks; the model keeps one entry per source extent, so every entry lies in
/// one tree extent).
struct ExtentStatusCache: Sendable {
  /// Sorted by `lblk`, disjoint.
  private(set) var entries: [StatusEntry] = []

  /// The entry holding `lblk` (`ext4_es_lookup_extent`).
  func lookup(_ lblk: UInt64) -> StatusEntry? {
    entries.first { $0.lblk <= lblk && lblk < $0.end }
  }

  /// Delayed blocks in [lo, hi).
  func delayedBlocks(_ lo: UInt64, _ hi: UInt64) -> UInt64 {
    entries.filter { $0.status == .delayed }.compactMap { $0.clipped(lo, hi) }.reduce(0) { $0 + $1.len }
  }

  /// `ext4_es_insert_extent`: the entry replaces whatever the cache said about its range.
  mutating func insert(_ e: StatusEntry) {
    guard e.len > 0 else { return }
    _ = remove(e.lblk, e.end)
    let at = entries.firstIndex { $0.lblk > e.lblk } ?? entries.count
    entries.insert(e, at: at)
  }

  /// `ext4_es_cache_extent`: the entry fills only the parts of its range the cache knows nothing
  /// about; what is there already (a delayed block, a hole punch put there) stays.
  mutating func fill(_ e: StatusEntry) {
    var cursor = e.lblk
    var gaps: [StatusEntry] = []
    for x in entries where x.end > e.lblk && x.lblk < e.end {
      if x.lblk > cursor, let g = e.clipped(cursor, x.lblk) { gaps.append(g) }
      cursor = max(cursor, x.end)
    }
    if cursor < e.end, let g = e.clipped(cursor, e.end) { gaps.append(g) }
    for g in gaps { insert(g) }
  }

  /// `ext4_es_remove_extent` over [lo, hi): entries there go, entries across the edges are cut.
  /// Returns the delayed blocks removed (whose reservation the caller releases).
  @discardableResult
  mutating func remove(_ lo: UInt64, _ hi: UInt64) -> UInt64 {
    guard lo < hi else { return 0 }
    var delayed: UInt64 = 0
    var out: [StatusEntry] = []
    for x in entries {
      guard x.lblk < hi && lo < x.end else {
        out.append(x)
        continue
      }
      if x.status == .delayed { delayed += x.clipped(lo, hi)!.len }
      if let left = x.clipped(0, lo) { out.append(left) }
      if let right = x.clipped(hi, UInt64.max) { out.append(right) }
    }
    entries = out
    return delayed
  }

  /// Forgets everything (the inode is gone).
  mutating func removeAll() { entries.removeAll() }
}
