/// Device blocks an engine holds for something other than file data, and why: `superblock and
/// metadata`, `freed, pinned until commit`, `allocated, not yet in the tree`.
public struct PinnedRange: Sendable, Hashable, Codable, CustomStringConvertible {
  public var range: BlockRange
  public var why: String
  public init(_ range: BlockRange, why: String) {
    self.range = range
    self.why = why
  }
  public var description: String { "\(range) (\(why))" }
}
