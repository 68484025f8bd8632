import FaultKit

/// Bits of a range in a `RangeLockTree`, in the manner of btrfs's extent_io_tree.
public struct RangeBits: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// The range is locked (EXTENT_LOCKED): lockers park.
  public static let locked = RangeBits(rawValue: 1 << 0)
  /// Reserved, not yet allocated data (EXTENT_DELALLOC).
  public static let delalloc = RangeBits(rawValue: 1 << 1)
  /// Delalloc that a writeback pass has claimed (EXTENT_DELALLOC_NEW-like bookkeeping).
  public static let dirty = RangeBits(rawValue: 1 << 2)
}

/// A per-file tree of byte ranges carrying bits, the LOCKED bit being a lock that parks whoever
/// wants an overlapping range. Kept as a sorted list of disjoint segments; segments with no bits
/// are dropped and equal neighbours merged, so its shape is canonical.
public final class RangeLockTree: @unchecked Sendable {
  struct Segment: Equatable {
    var start: UInt64
    var end: UInt64
    var bits: RangeBits
    var holder: Holder?
  }
  public let path: String
  private var segments: [Segment] = []
  private let kernel: Kernel
  private let key: WaitKey

  public init(path: String, kernel: Kernel) {
    self.path = path
    self.kernel = kernel
    key = WaitKey(kind: WaitKind.rangeTree, a: kernel.makeID())
  }

  /// `lock_extent`: a schedule point; parks while any part of `r` is locked.
  public func lock(_ r: ByteRange) async throws {
    try await kernel.scheduler.point("lock range \(path) \(r)")
    var rounds = 0
    while let held = firstLocked(in: r) {
      rounds += 1
      precondition(rounds < 1 << 20, "range lock wait did not converge")
      try await kernel.scheduler.block(on: key, what: "range \(path) \(held)")
    }
    set(r, .locked, holder: kernel.harness.holder)
  }

  /// Sleeps until no part of `r` is locked, without taking the lock (wait_extent_bit).
  public func waitUnlocked(_ r: ByteRange) async throws {
    var rounds = 0
    while let held = firstLocked(in: r) {
      rounds += 1
      precondition(rounds < 1 << 20, "range wait did not converge")
      try await kernel.scheduler.block(on: key, what: "range \(path) \(held)")
    }
  }

  /// True when no part of `r` is locked (try_lock_extent's test).
  public func isUnlocked(_ r: ByteRange) -> Bool { firstLocked(in: r) == nil }

  /// `unlock_extent`: clears LOCKED over `r` and wakes waiters.
  public func unlock(_ r: ByteRange) { clear(r, .locked) }

  private func firstLocked(in r: ByteRange) -> ByteRange? {
    for s in segments where s.bits.contains(.locked) && s.start < r.end && r.start < s.end {
      return lockedRun(containing: s.start)
    }
    return nil
  }

  private func lockedRun(containing at: UInt64) -> ByteRange {
    var lo = at
    var hi = at
    for s in segments where s.bits.contains(.locked) {
      if s.start <= at && at < s.end {
        lo = s.start
        hi = s.end
      }
    }
    // Extend over adjacent locked segments with the same holder.
    var changed = true
    var guardCount = 0
    while changed && guardCount < segments.count + 1 {
      changed = false
      guardCount += 1
      for s in segments where s.bits.contains(.locked) {
        if s.end == lo {
          lo = s.start
          changed = true
        }
        if s.start == hi {
          hi = s.end
          changed = true
        }
      }
    }
    return ByteRange(lo, hi)
  }

  /// Sets `bits` over `r`. `holder` is recorded when setting LOCKED.
  public func set(_ r: ByteRange, _ bits: RangeBits, holder: Holder? = nil) {
    modify(r) { s in
      s.bits.formUnion(bits)
      if bits.contains(.locked) { s.holder = holder }
    }
  }

  /// Clears `bits` over `r`. Clearing LOCKED where another task holds it is recorded
  /// (`unlock-by-owner`) and done.
  public func clear(_ r: ByteRange, _ bits: RangeBits) {
    if bits.contains(.locked) { checkOwner(r, "unlock_extent") }
    modify(r) { s in
      s.bits.subtract(bits)
      if bits.contains(.locked) { s.holder = nil }
    }
    if bits.contains(.locked) { kernel.scheduler.wake(key) }
  }

  /// True if any byte of `r` has any of `bits`.
  public func test(_ r: ByteRange, _ bits: RangeBits) -> Bool {
    segments.contains { $0.start < r.end && r.start < $0.end && !$0.bits.isDisjoint(with: bits) }
  }

  /// Maximal ranges carrying `bit`, in order (neighbours merged).
  public func ranges(with bit: RangeBits) -> [ByteRange] {
    var out: [ByteRange] = []
    for s in segments where s.bits.contains(bit) {
      if let last = out.last, last.end == s.start {
        out[out.count - 1] = ByteRange(last.start, s.end)
      } else {
        out.append(ByteRange(s.start, s.end))
      }
    }
    return out
  }

  /// The maximal run with `bit` that contains `offset`, if any.
  public func run(with bit: RangeBits, containing offset: UInt64) -> ByteRange? {
    ranges(with: bit).first { $0.start <= offset && offset < $0.end }
  }

  /// Records each locked run in `r` held by a task other than the running one.
  private func checkOwner(_ r: ByteRange, _ function: String) {
    let me = kernel.harness.holder.task
    for seg in segments where seg.bits.contains(.locked) && seg.start < r.end && r.start < seg.end {
      guard let h = seg.holder, h.task != me else { continue }
      let part = ByteRange(max(seg.start, r.start), min(seg.end, r.end))
      kernel.lockdep.badUnlock(function, .range, "\(path) \(part)", owners: [h])
    }
  }

  /// Drops every bit (the file is gone); a range another task still holds locked is recorded.
  public func removeAll() {
    checkOwner(ByteRange(0, UInt64.max), "removing the io tree")
    segments.removeAll()
    kernel.scheduler.wake(key)
  }

  /// LOCKED runs as range-lock records.
  public func report(into s: inout Snapshot) {
    var runs: [(ByteRange, Holder?)] = []
    for seg in segments where seg.bits.contains(.locked) {
      if let last = runs.last, last.0.end == seg.start, last.1 == seg.holder {
        runs[runs.count - 1].0 = ByteRange(last.0.start, seg.end)
      } else {
        runs.append((ByteRange(seg.start, seg.end), seg.holder))
      }
    }
    let waiters = kernel.scheduler.waiters(key)
    for (r, h) in runs {
      s.locks.append(LockRecord(kind: .range, object: path, range: r, holders: h.map { [$0] } ?? [], waiters: waiters))
    }
  }

  private func modify(_ r: ByteRange, _ change: (inout Segment) -> Void) {
    guard !r.isEmpty else { return }
    split(at: r.start)
    split(at: r.end)
    // Fill gaps inside r with empty segments so bits can be set there.
    var filled: [Segment] = []
    var cursor = r.start
    for s in segments {
      if s.end <= r.start || s.start >= r.end {
        filled.append(s)
        continue
      }
      if s.start > cursor { filled.append(Segment(start: cursor, end: s.start, bits: [], holder: nil)) }
      filled.append(s)
      cursor = s.end
    }
    if cursor < r.end { filled.append(Segment(start: cursor, end: r.end, bits: [], holder: nil)) }
    filled.sort { $0.start < $1.start }
    for i in filled.indices where filled[i].start >= r.start && filled[i].end <= r.end {
      change(&filled[i])
    }
    var merged: [Segment] = []
    for s in filled where !s.bits.isEmpty {
      if var last = merged.last, last.end == s.start, last.bits == s.bits, last.holder == s.holder {
        last.end = s.end
        merged[merged.count - 1] = last
      } else {
        merged.append(s)
      }
    }
    segments = merged
  }

  private func split(at x: UInt64) {
    guard let i = segments.firstIndex(where: { $0.start < x && x < $0.end }) else { return }
    var right = segments[i]
    right.start = x
    segments[i].end = x
    segments.insert(right, at: i + 1)
  }
}
