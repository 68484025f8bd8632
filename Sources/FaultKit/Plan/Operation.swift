/// The operations plans can ask of an engine. An engine declares which it supports.
public enum OpKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
  case create
  case write
  case writeback
  case fsync
  case read
  case unlink

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  /// The argument keys this operation takes, required first.
  public var required: [String] {
    switch self {
    case .write: ["path", "offset", "length"]
    case .read: ["path"]
    case .create, .writeback, .fsync, .unlink: ["path"]
    }
  }
  public var optional: [String] {
    switch self {
    case .write: ["pattern"]
    case .read, .writeback: ["offset", "length"]
    case .create, .fsync, .unlink: []
    }
  }

  /// One line for `faultline points`/docs.
  public var about: String {
    switch self {
    case .create: "create an empty file"
    case .write: "buffered write of `length` bytes of `pattern` (a byte, default 0xA5) at `offset`"
    case .writeback: "start writeback of a range (sync_file_range/filemap_fdatawrite) and return its error"
    case .fsync: "write back, wait for ordered I/O, commit; returns any error recorded on the file"
    case .read: "buffered read of a range (default: the whole file)"
    case .unlink: "remove the name; evicting the inode truncates its page cache"
    }
  }
}

/// One operation of a task, with its arguments.
public struct Operation: Sendable, Hashable, Codable, CustomStringConvertible {
  public var kind: OpKind
  public var path: String
  public var offset: UInt64?
  public var length: UInt64?
  public var pattern: UInt8?
  /// Where the plan wrote it (nil for operations made in code).
  public var location: SourceLocation?

  public init(
    _ kind: OpKind, path: String, offset: UInt64? = nil, length: UInt64? = nil, pattern: UInt8? = nil,
    location: SourceLocation? = nil
  ) {
    self.kind = kind
    self.path = path
    self.offset = offset
    self.length = length
    self.pattern = pattern
    self.location = location
  }

  public var description: String {
    var args = ["path: \(path)"]
    if let offset { args.append("offset: \(Size.format(offset))") }
    if let length { args.append("length: \(Size.format(length))") }
    if let pattern { args.append("pattern: 0x\(String(pattern, radix: 16, uppercase: true))") }
    return "\(kind.rawValue) { \(args.joined(separator: ", ")) }"
  }
}
