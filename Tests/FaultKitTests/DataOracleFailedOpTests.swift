import Testing

@testable import FaultKit

/// What a failed punch or truncate tells the data oracle: both may have done part of their work,
/// and the part they did first (write back the range, zero the tail block) is what the oracle
/// must not call a silent loss. And what a successful unlink promises: the name is gone.
@Suite("Data oracle: failed punch and truncate, unlinked names")
struct DataOracleFailedOpTests {
  func ok(_ b: [UInt8]) -> (String) -> Result<[UInt8], FSError> { { _ in .success(b) } }
  func stamp(_ pattern: UInt8, _ offset: UInt64, _ count: Int, g: UInt32 = 0) -> [UInt8] {
    WriteData(path: "/a", generation: g, pattern: pattern).bytes(at: offset, count: count)
  }
  func write(_ offset: UInt64, _ length: UInt64, _ pattern: UInt8, g: UInt32 = 0) -> Operation {
    var op = Operation(.write, path: "/a", offset: offset, length: length, pattern: pattern)
    op.generation = g
    return op
  }

  @Test("a failed punch reports what its writeback lost, outside the punched range too")
  func failedPunchReportsWritebackLoss() {
    var o = DataOracle()
    o.record(write(0, 8192, 0x44), .ok)
    // Punch [2KiB, 5KiB): its write-back of pages 0 and 1 failed to allocate (ext4's "Delayed
    // block allocation failed" drops both pages), and punch returned ENOSPC.
    o.record(Operation(.punch, path: "/a", offset: 2048, length: 3072), .error(FSError(.noSpace)))
    let lost = [UInt8](repeating: 0, count: 8192)
    #expect(o.checkCache(ok(lost)).isEmpty, "\(o.checkCache(ok(lost)))")
    // Before the fix the same loss after a failed read (which writes nothing back) is silent.
    var r = DataOracle()
    r.record(write(0, 8192, 0x44), .ok)
    r.record(Operation(.read, path: "/a"), .error(FSError(.io)))
    #expect(r.checkCache(ok(lost)).first?.invariant == .errorsReported)
  }

  @Test("a failed truncate may have zeroed the new EOF block's tail on disk before any commit")
  func failedTruncateTailZeroing() {
    var o = DataOracle()
    o.record(write(0, 8192, 0x5A), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.truncate, path: "/a", size: 6144), .error(FSError(.noSpace)))
    // After a crash: the old size, with the tail zeroed (writeback wrote the zeroed page in
    // place), or untouched; never other bytes.
    let zeroed = stamp(0x5A, 0, 6144) + [UInt8](repeating: 0, count: 2048)
    #expect(o.checkDurable(ok(zeroed)).isEmpty, "\(o.checkDurable(ok(zeroed)))")
    #expect(o.checkDurable(ok(stamp(0x5A, 0, 8192))).isEmpty)
    #expect(o.checkDurable(ok(stamp(0x5A, 0, 6144) + [UInt8](repeating: 0x77, count: 2048))).first != nil)
  }

  @Test(
    "a failed truncate may have freed some blocks past the new size and not others: grown again, each byte is old or zero"
  )
  func failedTruncateThenGrow() {
    var o = DataOracle()
    o.record(write(0, 24576, 0x5A), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(Operation(.truncate, path: "/a", size: 6144), .error(FSError(.noSpace)))
    o.record(Operation(.truncate, path: "/a", size: 32768), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    // ext4 removed the last block and failed; the tail of block 1 was zeroed, blocks 2-4 stay.
    let old = stamp(0x5A, 0, 24576)
    var got = Array(old[0..<6144]) + [UInt8](repeating: 0, count: 2048) + Array(old[8192..<20480])
    got += [UInt8](repeating: 0, count: 32768 - got.count)
    #expect(o.checkCache(ok(got)).isEmpty, "\(o.checkCache(ok(got)))")
    #expect(o.checkDurable(ok(got)).isEmpty, "\(o.checkDurable(ok(got)))")
    // Other bytes there are still wrong.
    got[9000] = 0x77
    #expect(!o.checkDurable(ok(got)).isEmpty)
  }

  @Test("a name a successful unlink removed must not read; a failed unlink or a new file may")
  func unlinkedNameIsGone() {
    var o = DataOracle()
    o.record(write(0, 16, 0xAA), .ok)
    o.record(Operation(.unlink, path: "/a"), .ok)
    #expect(o.checkCache { _ in .failure(FSError(.noEntry)) }.isEmpty)
    #expect(o.checkCache(ok(stamp(0xAA, 0, 16))).first?.invariant == .errorsReported)
    // A failed unlink leaves the file.
    var f = DataOracle()
    f.record(write(0, 16, 0xAA), .ok)
    f.record(Operation(.unlink, path: "/a"), .error(FSError(.noMemory)))
    #expect(f.checkCache(ok(stamp(0xAA, 0, 16))).isEmpty)
    // Made again: the new file reads.
    o.record(Operation(.create, path: "/a"), .ok)
    #expect(o.checkCache(ok([])).isEmpty)
    // A link made under the name makes it again too.
    var l = DataOracle()
    l.record(write(0, 16, 0xAA), .ok)
    l.record(Operation(.unlink, path: "/a"), .ok)
    l.record(Operation(.link, path: "/a", target: "/b"), .ok)
    #expect(l.checkCache(ok([])).isEmpty)
  }
}
