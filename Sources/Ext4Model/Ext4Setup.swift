import FaultKit
import ModelKernel

/// The `setup:` section of an ext4-model plan: the keys every model engine shares
/// (`device`, `free-space`, `files`), plus `extent-tree: { leaf-capacity: N }` and
/// `journal: { credits: N }`.
struct Ext4Setup: Sendable {
  let common: ModelSetup
  /// Extents one leaf block holds.
  var leafCapacity = 4
  /// Credits one journal transaction holds.
  var journalCredits = 256

  init(_ value: PlanValue?) throws {
    common = try ModelSetup(value, extraKeys: ["extent-tree", "journal"])
    guard let m = common.map else { return }
    if let t = m.value("extent-tree") {
      let tm = try PlanMap(t, path: "setup.extent-tree", keys: ["leaf-capacity"])
      if let c = try tm.int("leaf-capacity", min: 2, max: 340) { leafCapacity = c }
    }
    if let j = m.value("journal") {
      let jm = try PlanMap(j, path: "setup.journal", keys: ["credits"])
      if let c = try jm.int("credits", min: Ext4Engine.minJournalCredits, max: 1 << 20) { journalCredits = c }
    }
  }

  var blocks: UInt64 { common.blocks }
  var blockSize: UInt64 { common.blockSize }
  static var reservedBlocks: UInt64 { ModelSetup.reservedBlocks }
}
