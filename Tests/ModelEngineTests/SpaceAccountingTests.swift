import FaultKit
import ModelKernel
import Testing

@testable import BtrfsModel

@Suite("Space accounting of the model engines")
struct SpaceAccountingTests {
  @Test("btrfs metadata: free comes from the fs tree's items, so a miscounted used is caught")
  func btrfsMetadataIsNotAnIdentity() throws {
    let t = try EngineUnderTest(BtrfsModel.descriptor)
    t.perform([
      Operation(.create, path: "/a"), Operation(.write, path: "/a", offset: 0, length: 16384),
      Operation(.fsync, path: "/a"),
    ])
    #expect(t.judge(SpaceBalanced()).isEmpty)
    let metadata = try #require(t.engine.snapshot().space.first { $0.name == "metadata" })
    // One inode item and one file extent item, each with its item header.
    #expect(metadata.used == 185 + 78)
    // An error path that charges an item the tree never got.
    let engine = try #require(t.engine as? BtrfsEngine)
    engine.metadata.used += 78
    #expect(
      t.judge(SpaceBalanced()).map(\.message) == [
        "space metadata: free \(metadata.free) + used \(metadata.used + 78) + reserved 0 != total \(metadata.total)"
      ])
  }

  @Test("a reservation returned twice is reported by space-balanced, not a trap in the engine")
  func doubleReleaseIsReported() throws {
    let t = try EngineUnderTest(BtrfsModel.descriptor)
    t.perform([Operation(.create, path: "/a")])
    let engine = try #require(t.engine as? BtrfsEngine)
    engine.data.mayUse += 4096
    engine.data.mayUse -= 4096
    engine.data.mayUse -= 4096
    let found = t.judge(SpaceBalanced()).map(\.message)
    #expect(found.contains("space data: counter went below zero: may-use: released 4KiB with 0 held"))
  }
}
