import FaultKit
import ModelKernel

/// What the harness reads to judge page-cache/disk agreement itself (`PagecacheAgreement`).
extension Ext4Engine {
  func pageBytes(_ path: String, _ index: UInt64) -> [UInt8]? { inodes[path]?.mapping.lookup(index)?.data }
  func blockBytes(_ block: UInt64) -> [UInt8]? { block < device.blockCount ? Array(device.peek(block)) : nil }
}
