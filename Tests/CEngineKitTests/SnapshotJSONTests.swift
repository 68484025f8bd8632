import FaultKit
import Testing

@testable import CEngineKit

/// The reader of C engines' snapshots and the memo of parsed snapshots.
@Suite struct SnapshotJSONTests {
  func parse(_ text: String) throws -> Snapshot {
    var bytes = Array(text.utf8)
    return try bytes.withUnsafeMutableBufferPointer { try SnapshotJSON.parse(UnsafeBufferPointer($0)) }
  }

  @Test func readsTheCommonModel() throws {
    let s = try parse(
      """
      {"pageSize": 1024,
       "files": [{"path": "/a\\"b\\\\c", "size": 7}, {"path": "/\\u0001", "size": 0, "pendingError": 5}],
       "locks": [{"kind": "handle", "object": "file handle /a", "mode": "exclusive",
                  "holders": [{"task": "app", "op": 2, "opName": "write"}], "waiters": ["other"]}],
       "extents": [
         {"source": "tree", "file": "/a", "range": {"start": 0, "end": 2048}, "disk": {"start": 40, "count": 2},
          "state": "written"},
         {"source": "tree", "file": "/a", "range": {"start": 4096, "end": 5120}, "disk": {"start": 9, "count": 1},
          "state": "written"}],
       "space": [{"name": "blocks", "total": 8, "used": 2, "reserved": 0, "mayUse": 0, "free": 6,
                  "backsData": false}],
       "free": [{"start": 42, "count": 3}],
       "assertions": [{"rule": "r", "detail": "tab\\there"}],
       "pendingWork": ["w"], "copyOnWrite": true}
      """)
    #expect(s.pageSize == 1024)
    #expect(s.files.map(\.path) == ["/a\"b\\c", "/\u{1}"])
    #expect(s.files.map(\.size) == [7, 0])
    #expect(s.files[1].pendingError == Errno(rawValue: 5))
    #expect(s.locks.first?.holders == [Holder(task: "app", op: 2, opName: "write")])
    #expect(s.locks.first?.waiters == ["other"])
    #expect(s.extents.count == 2)
    #expect(s.extents[0].disk == BlockRange(start: 40, count: 2))
    #expect(s.extents[1].range == ByteRange(4096, 5120))
    #expect(s.extents.allSatisfy { $0.file == "/a" && $0.state == "written" && $0.source == .tree })
    #expect(s.space.first?.free == 6)
    #expect(s.free == [BlockRange(start: 42, count: 3)])
    #expect(s.assertions == [AssertionRecord(rule: "r", detail: "tab\there")])
    #expect(s.pendingWork == ["w"] && s.copyOnWrite)
    #expect(s.unreadable.isEmpty)
  }

  @Test func whatTheEngineCouldNotReadIsKept() throws {
    let s = try parse(
      #"{"files": [], "unreadable": ["inode 14 (/a): ext2fs_read_inode failed: short read", "more than 65536 names"]}"#)
    #expect(s.unreadable == ["inode 14 (/a): ext2fs_read_inode failed: short read", "more than 65536 names"])
  }

  /// A key the model does not define is state nobody would look at: an error, wherever it is.
  @Test(
    arguments: [
      (#"{"pageSize": 1024, "pages": []}"#, "pages", "the snapshot"),
      (#"{"files": [{"path": "/a", "size": 1, "extra": [{}]}]}"#, "extra", "a file record"),
      (#"{"files": [{"p\u0061th": "/a"}]}"#, "path", "a file record"),
      (#"{"locks": [{"kind": "inode", "owner": "x"}]}"#, "owner", "a lock record"),
      (#"{"locks": [{"holders": [{"task": "t", "pid": 1}]}]}"#, "pid", "a lock holder"),
      (#"{"extents": [{"source": "tree", "flags": 0}]}"#, "flags", "an extent record"),
      (#"{"extents": [{"range": {"start": 0, "length": 1}}]}"#, "length", "a byte range"),
      (#"{"free": [{"start": 0, "count": 1, "end": 1}]}"#, "end", "a block range"),
      (#"{"space": [{"name": "x", "slack": 0}]}"#, "slack", "a space record"),
      (#"{"assertions": [{"rule": "r", "severity": "high"}]}"#, "severity", "an assertion"),
    ])
  func anUnknownKeyIsAnErrorThatSaysWhichAndWhere(_ text: String, _ key: String, _ place: String) {
    do {
      _ = try parse(text)
      Issue.record("\(text) was accepted")
    } catch let e as SnapshotJSON.UnknownKey {
      #expect(e.key == key)
      #expect(e.place == place)
      #expect(e.description.contains("unknown key \"\(key)\" in \(place)"), "\(e)")
    } catch {
      Issue.record("\(text): \(error)")
    }
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
