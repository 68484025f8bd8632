import Testing

@testable import FaultKit

/// The bytes a write of `pattern` at `offset` (generation `g`) puts in /a.
private func bytes(_ pattern: UInt8, _ offset: UInt64, _ count: Int, g: UInt32) -> [UInt8] {
  WriteData(path: "/a", generation: g, pattern: pattern).bytes(at: offset, count: count)
}

private func op(_ kind: OpKind, _ offset: UInt64, _ length: UInt64, _ pattern: UInt8, g: UInt32) -> Operation {
  var o = Operation(kind, path: "/a", offset: offset, length: length, pattern: pattern)
  o.generation = g
  return o
}

/// A direct read over a page marked for fixup (btrfs: dirtied behind its back, skipped by the
/// read's flush) may return the disk's older bytes there, and only there.
@Suite("Direct reads over pages awaiting fixup")
struct DirectReadFixupTests {
  /// /a: two pages written (g1) and fsync'd, page 0 rewritten (g2, buffered), page 1 stored
  /// through a mapping (g3).
  func oracle() -> DataOracle {
    var o = DataOracle()
    o.record(op(.write, 0, 8192, 0x11, g: 1), .ok)
    o.record(Operation(.fsync, path: "/a"), .ok)
    o.record(op(.write, 0, 4096, 0x22, g: 2), .ok)
    o.record(op(.mmapWrite, 4096, 4096, 0x33, g: 3), .ok)
    return o
  }

  func snapshot(_ pages: [PageRecord], delalloc: [ByteRange] = []) -> Snapshot {
    var s = Snapshot()
    s.pageSize = 4096
    s.copyOnWrite = true
    s.pages = pages
    s.extents = delalloc.map { ExtentRecord(source: .delalloc, file: "/a", range: $0) }
    return s
  }

  @Test("older bytes of a page marked Checked pass; of any other page, or garbage, they do not")
  func checkedPage() {
    let o = oracle()
    let read = Operation(.dioRead, path: "/a")
    let fresh0 = bytes(0x22, 0, 4096, g: 2)
    let older1 = bytes(0x11, 4096, 4096, g: 1)
    var w = o.beginRead("/a", inFlight: [])
    // Without the mark the read is wrong and nobody was told.
    #expect(o.checkRead(read, fresh0 + older1, w, moment: "m")?.invariant == .errorsReported)
    w.noteAwaitingFixup(
      snapshot(
        [
          PageRecord(file: "/a", index: 0, flags: [.dirty, .uptodate]),
          PageRecord(file: "/a", index: 1, flags: [.dirty, .uptodate, .checked]),
        ], delalloc: [ByteRange(0, 4096)]))
    #expect(w.awaitingFixup == [ByteRange(4096, 8192)])
    #expect(o.checkRead(read, fresh0 + older1, w, moment: "m") == nil)
    #expect(o.checkRead(read, fresh0 + bytes(0x33, 4096, 4096, g: 3), w, moment: "m") == nil)
    // Page 0 had delalloc under it: the flush wrote it, so its older bytes are still wrong.
    #expect(o.checkRead(read, bytes(0x11, 0, 4096, g: 1) + older1, w, moment: "m") != nil)
    // Bytes no write or setup ever put there are wrong on the marked page too.
    #expect(o.checkRead(read, fresh0 + bytes(0x44, 4096, 4096, g: 9), w, moment: "m") != nil)
  }

  @Test("a dirty page with nothing under it is one the read's own flush hands to the worker")
  func barePage() {
    var w = oracle().beginRead("/a", inFlight: [])
    w.noteAwaitingFixup(
      snapshot(
        [
          PageRecord(file: "/a", index: 0, flags: [.dirty, .uptodate]),
          PageRecord(file: "/a", index: 1, flags: [.dirty, .uptodate]),
          PageRecord(file: "/a", index: 2, flags: [.uptodate]),
          PageRecord(file: "/b", index: 3, flags: [.dirty, .uptodate, .checked]),
        ], delalloc: [ByteRange(0, 4096)]))
    #expect(w.awaitingFixup == [ByteRange(4096, 8192)])
    // A tree extent is no place to write in place when data is copy-on-write; otherwise it is.
    var s = snapshot([PageRecord(file: "/a", index: 1, flags: [.dirty, .uptodate])])
    s.extents = [
      ExtentRecord(source: .tree, file: "/a", range: ByteRange(0, 8192), disk: BlockRange(start: 100, count: 2))
    ]
    var cow = oracle().beginRead("/a", inFlight: [])
    cow.noteAwaitingFixup(s)
    #expect(cow.awaitingFixup == [ByteRange(4096, 8192)])
    s.copyOnWrite = false
    var inPlace = oracle().beginRead("/a", inFlight: [])
    inPlace.noteAwaitingFixup(s)
    #expect(inPlace.awaitingFixup.isEmpty)
  }
}
