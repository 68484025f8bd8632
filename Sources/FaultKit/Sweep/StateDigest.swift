import Foundation

/// A digest of the state a scenario is in at a hit: what pruning compares. Stable across
/// processes (FNV-1a over sorted-key JSON), so workers' digests compare with the parent's.
public enum StateDigest {
  struct Key: Encodable {
    let snapshot: Snapshot
    let tasks: [TaskStatus]
    let point: String
    let task: String
    let op: String
    /// How many hits of this point this task's current op has made (loop iterations differ).
    let repeats: Int
  }

  public static func of(_ s: Snapshot, _ tasks: [TaskStatus], _ hit: Hit, repeats: Int) -> UInt64 {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let key = Key(snapshot: s, tasks: tasks, point: hit.point, task: hit.task, op: hit.op, repeats: repeats)
    guard let data = try? enc.encode(key) else { return 0 }
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
  }
}
