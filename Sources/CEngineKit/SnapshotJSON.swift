import FaultKit
import Glibc

/// Reads a C engine's snapshot JSON (faultline.h describes it) straight from its bytes into a
/// `Snapshot`. Foundation's JSONDecoder spent 70% of an ext2fs sweep decoding these (a
/// fragmented filesystem's snapshot has thousands of extent and free-space records); this reader
/// walks the bytes once, matches keys as bytes, and makes one String per distinct value (a file's
/// path, an extent's state) however many records repeat it. A malformed document throws with the
/// offset; so does a key faultline.h does not define, at the top level or in a record (a key
/// skipped is state nobody looked at).
enum SnapshotJSON {
  struct Malformed: Error, CustomStringConvertible {
    let offset: Int
    let expected: String
    var description: String { "snapshot JSON: expected \(expected) at byte \(offset)" }
  }

  /// A key the snapshot model does not define.
  struct UnknownKey: Error, CustomStringConvertible {
    let key: String
    /// Where: `the snapshot`, `a file record` …
    let place: String
    let offset: Int
    let known: [String]
    var description: String {
      "snapshot JSON: unknown key \"\(key)\" in \(place) at byte \(offset) (faultline.h defines: \(known.joined(separator: ", ")))"
    }
  }

  static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> Snapshot {
    var r = Reader(b: bytes)
    var s = Snapshot()
    try r.object { key, r in
      switch key {
      case "pageSize": s.pageSize = try r.number()
      case "copyOnWrite": s.copyOnWrite = try r.bool()
      case "files":
        try r.array { r in
          var f = FileRecord(path: "", size: 0)
          try r.object { k, r in
            switch k {
            case "path": f.path = try r.string()
            case "size": f.size = try r.number()
            case "pendingError": f.pendingError = Errno(rawValue: Int32(try r.number()))
            default: throw r.unknown(k, in: "a file record", known: ["path", "size", "pendingError"])
            }
          }
          s.files.append(f)
        }
      case "locks":
        try r.array { r in
          var l = LockRecord(kind: .handle, object: "", holders: [])
          try r.object { k, r in
            switch k {
            case "kind":
              let v = try r.string()
              guard let kind = LockKind(rawValue: v) else { throw Malformed(offset: r.i, expected: "a lock kind") }
              l.kind = kind
            case "object": l.object = try r.string()
            case "mode": l.mode = try r.string() == "shared" ? .shared : .exclusive
            case "range": l.range = try r.byteRange()
            case "waiters": try r.array { r in l.waiters.append(try r.string()) }
            case "holders":
              try r.array { r in
                var h = Holder(task: "", op: 0, opName: "")
                try r.object { k, r in
                  switch k {
                  case "task": h.task = try r.string()
                  case "op": h.op = Int(try r.number())
                  case "opName": h.opName = try r.string()
                  default: throw r.unknown(k, in: "a lock holder", known: ["task", "op", "opName"])
                  }
                }
                l.holders.append(h)
              }
            default:
              throw r.unknown(
                k, in: "a lock record", known: ["kind", "object", "mode", "range", "holders", "waiters"])
            }
          }
          s.locks.append(l)
        }
      case "extents":
        try r.array { r in
          var e = ExtentRecord(source: .tree, file: "", range: ByteRange(0, 0))
          try r.object { k, r in
            switch k {
            case "source":
              let v = try r.string()
              guard let src = ExtentSource(rawValue: v) else {
                throw Malformed(offset: r.i, expected: "an extent source")
              }
              e.source = src
            case "file": e.file = try r.string()
            case "range": e.range = try r.byteRange()
            case "disk": e.disk = try r.blockRange()
            case "state": e.state = try r.string()
            default: throw r.unknown(k, in: "an extent record", known: ["source", "file", "range", "disk", "state"])
            }
          }
          s.extents.append(e)
        }
      case "space":
        try r.array { r in
          var x = SpaceRecord(name: "", total: 0, used: 0, reserved: 0, mayUse: 0, free: 0, backsData: false)
          try r.object { k, r in
            switch k {
            case "name": x.name = try r.string()
            case "total": x.total = try r.number()
            case "used": x.used = try r.number()
            case "reserved": x.reserved = try r.number()
            case "mayUse": x.mayUse = try r.number()
            case "free": x.free = try r.number()
            case "backsData": x.backsData = try r.bool()
            case "underflows":
              var u: [String] = []
              try r.array { r in u.append(try r.string()) }
              x.underflows = u
            default:
              throw r.unknown(
                k, in: "a space record",
                known: ["name", "total", "used", "reserved", "mayUse", "free", "backsData", "underflows"])
            }
          }
          s.space.append(x)
        }
      case "free": try r.array { r in s.free.append(try r.blockRange()) }
      case "filler": try r.array { r in s.filler.append(try r.blockRange()) }
      case "deviceBlocks": s.deviceBlocks = try r.number()
      case "pinned":
        try r.array { r in
          var p = PinnedRange(BlockRange(start: 0, count: 0), why: "")
          try r.object { k, r in
            switch k {
            case "range": p.range = try r.blockRange()
            case "why": p.why = try r.string()
            default: throw r.unknown(k, in: "a pinned range", known: ["range", "why"])
            }
          }
          s.pinned.append(p)
        }
      case "assertions":
        try r.array { r in
          var a = AssertionRecord(rule: "", detail: "")
          try r.object { k, r in
            switch k {
            case "rule": a.rule = try r.string()
            case "detail": a.detail = try r.string()
            default: throw r.unknown(k, in: "an assertion", known: ["rule", "detail"])
            }
          }
          s.assertions.append(a)
        }
      case "pendingWork": try r.array { r in s.pendingWork.append(try r.string()) }
      case "unreadable": try r.array { r in s.unreadable.append(try r.string()) }
      default:
        throw r.unknown(
          key, in: "the snapshot",
          known: [
            "pageSize", "copyOnWrite", "files", "locks", "extents", "space", "free", "assertions", "pendingWork",
            "unreadable", "pinned", "filler", "deviceBlocks",
          ])
      }
    }
    return s
  }

  struct Reader {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func ws() {
      while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x09 || b[i] == 0x0D { i += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws {
      ws()
      guard i < b.count, b[i] == c else { throw Malformed(offset: i, expected: what) }
      i += 1
    }

    mutating func peek(_ c: UInt8) -> Bool {
      ws()
      return i < b.count && b[i] == c
    }

    mutating func object(_ member: (Key, inout Reader) throws -> Void) throws {
      try expect(0x7B, "{")
      if peek(0x7D) {
        i += 1
        return
      }
      for _ in 0..<(1 << 24) {
        let key = Key(bytes: try raw())
        try expect(0x3A, ":")
        try member(key, &self)
        if peek(0x2C) {
          i += 1
          continue
        }
        try expect(0x7D, "} or ,")
        return
      }
    }

    mutating func array(_ element: (inout Reader) throws -> Void) throws {
      try expect(0x5B, "[")
      if peek(0x5D) {
        i += 1
        return
      }
      for _ in 0..<(1 << 24) {
        try element(&self)
        if peek(0x2C) {
          i += 1
          continue
        }
        try expect(0x5D, "] or ,")
        return
      }
    }

    /// A string's bytes between its quotes, as they stand (escapes undone by `string`).
    mutating func raw() throws -> UnsafeBufferPointer<UInt8> {
      try expect(0x22, "a string")
      let start = i
      while i < b.count, b[i] != 0x22 {
        i += b[i] == 0x5C ? 2 : 1
      }
      guard i < b.count else { throw Malformed(offset: i, expected: "the end of a string") }
      i += 1
      return UnsafeBufferPointer(rebasing: b[start..<(i - 1)])
    }

    /// Strings already made in this document, reused for equal bytes (bounded).
    var interned: [String] = []

    mutating func string() throws -> String {
      let at = i
      let bytes = try raw()
      guard !bytes.contains(0x5C) else { return try unescape(bytes, at: at) }
      for s in interned where s.utf8.count == bytes.count {
        let same = s.utf8.withContiguousStorageIfAvailable {
          bytes.isEmpty || memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0
        }
        if same == true { return s }
      }
      let s = String(decoding: bytes, as: UTF8.self)
      if interned.count < 64 { interned.append(s) }
      return s
    }

    func unescape(_ bytes: UnsafeBufferPointer<UInt8>, at: Int) throws -> String {
      var out: [UInt8] = []
      var k = 0
      while k < bytes.count {
        if bytes[k] == 0x5C, k + 1 < bytes.count {
          k += 1
          switch bytes[k] {
          case UInt8(ascii: "n"): out.append(0x0A)
          case UInt8(ascii: "t"): out.append(0x09)
          case UInt8(ascii: "r"): out.append(0x0D)
          case UInt8(ascii: "u"):
            guard k + 4 < bytes.count,
              let v = UInt32(String(decoding: bytes[(k + 1)...(k + 4)], as: UTF8.self), radix: 16)
            else { throw Malformed(offset: at + 1 + k, expected: "four hex digits") }
            out.append(contentsOf: Array(String(Character(Unicode.Scalar(v) ?? "?")).utf8))
            k += 4
          default: out.append(bytes[k])
          }
        } else {
          out.append(bytes[k])
        }
        k += 1
      }
      return String(decoding: out, as: UTF8.self)
    }

    mutating func number() throws -> UInt64 {
      ws()
      var n: UInt64 = 0
      let start = i
      while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
        n = n &* 10 &+ UInt64(b[i] - 0x30)
        i += 1
      }
      guard i > start else { throw Malformed(offset: i, expected: "a non-negative integer") }
      return n
    }

    mutating func bool() throws -> Bool {
      ws()
      if b.count - i >= 4, b[i] == UInt8(ascii: "t") {
        i += 4
        return true
      }
      if b.count - i >= 5, b[i] == UInt8(ascii: "f") {
        i += 5
        return false
      }
      throw Malformed(offset: i, expected: "true or false")
    }

    mutating func byteRange() throws -> ByteRange {
      var r = ByteRange(0, 0)
      try object { k, rd in
        switch k {
        case "start": r.start = try rd.number()
        case "end": r.end = try rd.number()
        default: throw rd.unknown(k, in: "a byte range", known: ["start", "end"])
        }
      }
      return r
    }

    mutating func blockRange() throws -> BlockRange {
      var r = BlockRange(start: 0, count: 0)
      try object { k, rd in
        switch k {
        case "start": r.start = try rd.number()
        case "count": r.count = try rd.number()
        default: throw rd.unknown(k, in: "a block range", known: ["start", "count"])
        }
      }
      return r
    }

    /// The error for key `k` met in `place` (the reader stands just after its colon).
    func unknown(_ k: Key, in place: String, known: [String]) -> UnknownKey {
      let name = (try? unescape(k.bytes, at: 0)) ?? String(decoding: k.bytes, as: UTF8.self)
      return UnknownKey(key: name, place: place, offset: i, known: known)
    }
  }
}

/// A member's key as its bytes; `case "path":` matches it without making a String.
struct Key {
  let bytes: UnsafeBufferPointer<UInt8>

  static func ~= (pattern: StaticString, key: Key) -> Bool {
    pattern.utf8CodeUnitCount == key.bytes.count
      && (key.bytes.isEmpty || memcmp(pattern.utf8Start, key.bytes.baseAddress!, key.bytes.count) == 0)
  }
}
