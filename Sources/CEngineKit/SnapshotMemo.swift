import FaultKit
import Glibc
import Synchronization

/// The last few snapshots C engines reported, parsed and normalized, by their JSON bytes. A
/// sweep's scenarios share their baseline (each starts from the same setup) and often their
/// state at rest (many faults change nothing, or the same thing); equal bytes are one parse. A
/// hit costs a length check and a memcmp; equal bytes give an equal `Snapshot`, so results do not
/// depend on what the memo held.
final class SnapshotMemo: Sendable {
  static let shared = SnapshotMemo(capacity: 8)

  private struct Entry {
    let bytes: [UInt8]
    let snapshot: Snapshot
  }
  private let capacity: Int
  /// Most recently used first.
  private let entries = Mutex<[Entry]>([])

  init(capacity: Int) { self.capacity = capacity }

  func snapshot(_ bytes: UnsafeBufferPointer<UInt8>) -> Snapshot? {
    entries.withLock { entries in
      guard
        let at = entries.firstIndex(where: { e in
          e.bytes.count == bytes.count
            && e.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
        })
      else { return nil }
      let e = entries.remove(at: at)
      entries.insert(e, at: 0)
      return e.snapshot
    }
  }

  func remember(_ bytes: UnsafeBufferPointer<UInt8>, _ snapshot: Snapshot) {
    guard !bytes.isEmpty else { return }
    let entry = Entry(bytes: Array(bytes), snapshot: snapshot)
    entries.withLock { entries in
      entries.insert(entry, at: 0)
      if entries.count > capacity { entries.removeLast() }
    }
  }
}
