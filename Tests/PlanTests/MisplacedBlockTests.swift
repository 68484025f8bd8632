import FaultKit
import FaultlineEngines
import Testing

/// An engine whose reads return a file's second block where its first belongs and the first
/// where the second does: what a block written at the wrong offset looks like from the outside.
private final class SwappedBlocks: Engine, @unchecked Sendable {
  let inner: any Engine
  let blockSize: Int
  init(_ inner: any Engine, blockSize: Int) {
    self.inner = inner
    self.blockSize = blockSize
  }
  func setup() async throws { try await inner.setup() }
  func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
    let got = try await inner.perform(op)
    guard let got, op.kind == .read, got.count >= 2 * blockSize else { return got }
    return Array(got[blockSize..<2 * blockSize] + got[0..<blockSize] + got[(2 * blockSize)...])
  }
  func snapshot() throws -> Snapshot { try inner.snapshot() }
  func recover() async throws { try await inner.recover() }
  func verify() async throws -> [Finding] { try await inner.verify() }
}

/// One write of two blocks, fsync'd: both blocks carry one pattern, so only stamped data tells
/// which block is which. Every engine: the three models, libext2fs (C ABI) and the real kernel.
private func plan(_ engine: String, setup: String) -> String {
  """
  plan: misplaced-\(engine)
  engine: \(engine)
  setup: \(setup)
  tasks:
    - name: app
      ops:
        - write: { path: /a, offset: 0, length: 8KiB, pattern: 0xA5 }
        - fsync: { path: /a }
  """
}

private let models: [(String, String)] = [
  ("btrfs-model", "{ device: { blocks: 256, block-size: 4096 }, files: [ { path: /a } ] }"),
  ("xfs-model", "{ device: { blocks: 256, block-size: 4096 }, files: [ { path: /a } ] }"),
  ("ext4-model", "{ device: { blocks: 256, block-size: 4096 }, files: [ { path: /a } ] }"),
  // The real libext2fs (4KiB blocks here: the swap moves whole blocks) and the real kernel.
  ("ext2fs", "{ size: 4MiB, block-size: 4096, files: [ { path: /a } ] }"),
  ("linux", "{ fs: ext4, device: 64MiB, files: [ { path: /a } ] }"),
]

@Suite("The data oracle catches a block at the wrong offset on every engine")
struct MisplacedBlockTests {
  @Test(
    "unchanged, the engine passes; with its first two blocks swapped in every read, data-durable fires",
    arguments: models)
  func swapped(_ engine: String, _ setup: String) throws {
    let base = FaultlineEngines.registry
    let loader = PlanLoader(registry: base)
    let p = try loader.parse(plan(engine, setup: setup), file: "misplaced-\(engine).yaml")
    #expect(try ScenarioRunner(registry: base).run(p).passed)
    var d = try #require(base.descriptor(named: engine))
    let make = d.make
    d = EngineDescriptor(
      name: d.name, about: d.about, catalog: d.catalog, operations: d.operations, bugs: d.bugs, workers: d.workers,
      invariants: d.invariants, ownInvariants: d.ownInvariants, checkSetup: d.checkSetup,
      make: { SwappedBlocks(try make($0), blockSize: 4096) })
    let r = try ScenarioRunner(registry: EngineRegistry([d])).run(p)
    #expect(!r.passed)
    let durable = r.violations.first { $0.invariant == .dataDurable }
    #expect(
      durable?.message.contains("hold /a offset 4KiB write 1 where /a offset 0 write 1 belongs") == true,
      "\(r.violations.map(\.message))")
  }
}
