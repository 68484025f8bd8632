import FaultKit
import Testing

@testable import CEngineKit

/// The reader of C engines' snapshots and the memo of parsed snapshots.
@Suite struct SnapshotJSONTests {
  func parse(_ text: String) throws -> Snapshot {
    var bytes = Array(text.utf8)
    return try bytes.withUnsafeMutableBufferPointer { try SnapshotJSON.parse(UnsafeBufferPointer($0)) }
  }

  @Test func readsTheCommonModelSkippingWhatItDoesNotKnow() throws {
    let s = try parse(
      """
      {"pageSize": 1024, "unknown": {"nested": [1, -2.5e3, true, null, "x\\"y"]},
       "files": [{"path": "/a\\"b\\\\c", "size": 7, "extra": [{}]}, {"path": "/\\u0001", "size": 0}],
       "extents": [
         {"source": "tree", "file": "/a", "range": {"start": 0, "end": 2048}, "disk": {"start": 40, "count": 2},
          "state": "written", "p\\u0061th": "not a key it knows"},
         {"source": "tree", "file": "/a", "range": {"start": 4096, "end": 5120}, "disk": {"start": 9, "count": 1},
          "state": "written"}],
       "free": [{"start": 42, "count": 3}],
       "assertions": [{"rule": "r", "detail": "tab\\there"}]}
      """)
    #expect(s.pageSize == 1024)
    #expect(s.files.map(\.path) == ["/a\"b\\c", "/\u{1}"])
    #expect(s.files.map(\.size) == [7, 0])
    #expect(s.extents.count == 2)
    #expect(s.extents[0].disk == BlockRange(start: 40, count: 2))
    #expect(s.extents[1].range == ByteRange(4096, 5120))
    #expect(s.extents.allSatisfy { $0.file == "/a" && $0.state == "written" && $0.source == .tree })
    #expect(s.free == [BlockRange(start: 42, count: 3)])
    #expect(s.assertions == [AssertionRecord(rule: "r", detail: "tab\there")])
  }

  @Test func readsTheBlockAccountingAndUnderflows() throws {
    let s = try parse(
      """
      {"deviceBlocks": 64, "pinned": [{"range": {"start": 0, "count": 16}, "why": "superblock"}],
       "filler": [{"start": 32, "count": 16}],
       "space": [{"name": "data", "total": 1, "used": 0, "reserved": 0, "mayUse": 0, "free": 1,
                  "backsData": true, "underflows": ["may-use: released 4KiB with 0 held"]}]}
      """)
    #expect(s.deviceBlocks == 64)
    #expect(s.pinned == [PinnedRange(BlockRange(start: 0, count: 16), why: "superblock")])
    #expect(s.filler == [BlockRange(start: 32, count: 16)])
    #expect(s.space.first?.underflows == ["may-use: released 4KiB with 0 held"])
    #expect(try parse("{}").deviceBlocks == nil)
  }

  @Test func aMalformedDocumentSaysWhereAndWhat() {
    #expect(throws: SnapshotJSON.Malformed.self) { try parse(#"{"files": [{"path": "/a", "size": }]}"#) }
    do {
      _ = try parse(#"{"extents": [{"source": "sideways"}]}"#)
      Issue.record("an unknown extent source was accepted")
    } catch let e as SnapshotJSON.Malformed {
      #expect(e.expected == "an extent source")
    } catch {
      Issue.record("\(error)")
    }
    #expect(throws: SnapshotJSON.Malformed.self) { try parse(#"{"files": [{"path": "/a"#) }
  }

  @Test func theMemoAnswersForEqualBytesOnlyAndKeepsTheMostRecent() throws {
    let memo = SnapshotMemo(capacity: 2)
    func with<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
      var bytes = Array(text.utf8)
      return try bytes.withUnsafeMutableBufferPointer { try body(UnsafeBufferPointer($0)) }
    }
    let a = #"{"pageSize": 1024}"#
    let b = #"{"pageSize": 2048}"#  // the same length, other bytes
    let c = #"{"pageSize": 4096}"#
    try with(a) { memo.remember($0, try SnapshotJSON.parse($0)) }
    #expect(with(a) { memo.snapshot($0) }?.pageSize == 1024)
    #expect(with(b) { memo.snapshot($0) } == nil)
    try with(b) { memo.remember($0, try SnapshotJSON.parse($0)) }
    #expect(with(a) { memo.snapshot($0) }?.pageSize == 1024)  // a is now the most recent
    try with(c) { memo.remember($0, try SnapshotJSON.parse($0)) }
    #expect(with(b) { memo.snapshot($0) } == nil)  // evicted: least recently used
    #expect(with(a) { memo.snapshot($0) }?.pageSize == 1024)
    #expect(with(c) { memo.snapshot($0) }?.pageSize == 4096)
  }
}
