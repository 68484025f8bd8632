/// The operations plans can ask of an engine. An engine declares which it supports.
public enum OpKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
  case create
  case write
  case writeback
  case fsync
  case read
  case unlink
  case dioWrite = "dio-write"
  case dioRead = "dio-read"
  case mmapWrite = "mmap-write"
  case migratePage = "migrate-page"
  case dropCaches = "drop-caches"
  case corrupt
  case punch
  case truncate
  case pageMkwrite = "page-mkwrite"
  case append
  case fallocate
  case mkdir
  case link
  case symlink
  case setxattr
  case removexattr
  case zeroRange = "zero-range"
  case rename
  /// A write to a kernel control file (the linux engine: debugfs, /proc, /sys), not a plan file.
  case control

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  /// The argument keys this operation takes, required first.
  public var required: [String] {
    switch self {
    case .write, .dioWrite, .mmapWrite, .punch, .pageMkwrite, .zeroRange: ["path", "offset", "length"]
    case .truncate: ["path", "size"]
    case .migratePage, .corrupt: ["path", "offset"]
    case .read, .dioRead, .create, .writeback, .fsync, .unlink, .dropCaches, .mkdir: ["path"]
    case .append: ["path", "length"]
    case .fallocate: ["path", "offset", "length"]
    case .link, .symlink, .rename: ["path", "target"]
    case .setxattr: ["path", "name", "value"]
    case .removexattr: ["path", "name"]
    case .control: ["path", "value"]
    }
  }
  public var optional: [String] {
    switch self {
    case .write, .dioWrite, .mmapWrite, .pageMkwrite: ["pattern"]
    case .punch, .truncate, .zeroRange, .rename: []
    case .read, .dioRead, .writeback: ["offset", "length"]
    case .create, .fsync, .unlink, .migratePage, .corrupt, .dropCaches: []
    case .append: ["pattern"]
    case .fallocate: ["mode"]
    case .mkdir, .link, .symlink, .setxattr, .removexattr, .control: []
    }
  }

  /// One line for `faultline points`/docs.
  public var about: String {
    switch self {
    case .create: "create an empty file"
    case .write:
      "buffered write of `length` bytes at `offset`: each 16-byte unit names the file, its offset and the write, then `pattern` (a byte, default 0xA5)"
    case .writeback: "start writeback of a range (sync_file_range/filemap_fdatawrite) and return its error"
    case .fsync: "write back, wait for ordered I/O, commit; returns any error recorded on the file"
    case .read: "buffered read of a range (default: the whole file)"
    case .unlink: "remove the name; evicting the inode truncates its page cache"
    case .dioWrite: "O_DIRECT write of `length` bytes of `pattern` at `offset` (block-aligned)"
    case .dioRead: "O_DIRECT read of a block-aligned range (default: the whole file)"
    case .mmapWrite:
      "store through a shared mapping: dirties the pages of the range without the filesystem's write path (no reservation)"
    case .migratePage: "migrate the cached page holding `offset` to a new page; the old page loses its mapping"
    case .dropCaches: "drop the file's clean, unlocked cached pages (POSIX_FADV_DONTNEED)"
    case .corrupt: "flip a byte of the device block behind `offset` without updating its checksum (media corruption)"
    case .punch:
      "punch a hole over [offset, offset+length): drop the page cache there and free the blocks (fallocate PUNCH_HOLE)"
    case .truncate: "set the file's size to `size`, dropping pages and blocks beyond it"
    case .pageMkwrite:
      "a write fault on a shared mapping: ->page_mkwrite maps (and reserves) the page, then the store dirties it"
    case .append: "write `length` bytes of `pattern` at the end of the file"
    case .fallocate:
      "allocate [offset, offset+length), extending the size unless `mode` has keep-size; `mode`: a comma list of keep-size, zero-blocks, force-init, force-uninit, init-beyond-eof"
    case .mkdir: "make a directory"
    case .link: "make `path` a new name of the file `target` (a hard link)"
    case .symlink: "make `path` a symbolic link to `target`"
    case .setxattr: "set extended attribute `name` (user.x) of `path` to the string `value`"
    case .removexattr: "remove extended attribute `name` of `path`"
    case .zeroRange: "zero [offset, offset+length) (fallocate ZERO_RANGE): reads as zeros, the size grows to cover it"
    case .rename: "rename `path` to `target`, replacing a file there"
    case .control:
      "write the string `value` to the kernel control file `path` (under /proc/ or /sys/, e.g. a debugfs file of a module the setup loads), in the task, as one write: its errno is the operation's"
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
  /// The new size, for `truncate`.
  public var size: UInt64?
  /// The existing file (`link`) or the link's contents (`symlink`).
  public var target: String?
  /// An extended attribute's name and value (`setxattr`, `removexattr`).
  public var name: String?
  public var value: String?
  /// `fallocate` flags, comma-separated.
  public var mode: String?
  /// Where the plan wrote it (nil for operations made in code).
  public var location: SourceLocation?
  /// The operation's place among the plan's operations (1-based: tasks in plan order, then
  /// ops), set by the runner when it hands the operation to the engine: what a write's data
  /// carries as its generation (`WriteData`). Not part of the plan file.
  public var generation: UInt32?

  public init(
    _ kind: OpKind, path: String, offset: UInt64? = nil, length: UInt64? = nil, pattern: UInt8? = nil,
    size: UInt64? = nil, target: String? = nil, name: String? = nil, value: String? = nil, mode: String? = nil,
    location: SourceLocation? = nil
  ) {
    self.kind = kind
    self.path = path
    self.offset = offset
    self.length = length
    self.pattern = pattern
    self.size = size
    self.target = target
    self.name = name
    self.value = value
    self.mode = mode
    self.location = location
  }

  /// Where the kernel control files a `control` operation writes live.
  public static let controlPrefixes = ["/proc/", "/sys/"]

  /// The `fallocate` flags plans may name.
  public static let fallocateModes = ["keep-size", "zero-blocks", "force-init", "force-uninit", "init-beyond-eof"]

  /// The byte range it names: from `offset` (default 0) for `length` bytes (default: to the end
  /// of a file of `fileSize` bytes).
  public func range(fileSize: UInt64) -> ByteRange {
    let start = offset ?? 0
    return ByteRange(start, length.map { start + $0 } ?? max(fileSize, start))
  }

  public var description: String {
    var args = ["path: \(path)"]
    if let offset { args.append("offset: \(Size.format(offset))") }
    if let length { args.append("length: \(Size.format(length))") }
    if let pattern { args.append("pattern: 0x\(String(pattern, radix: 16, uppercase: true))") }
    if let size { args.append("size: \(Size.format(size))") }
    if let target { args.append("target: \(target)") }
    if let name { args.append("name: \(name)") }
    if let value { args.append("value: \(value)") }
    if let mode { args.append("mode: \(mode)") }
    return "\(kind.rawValue) { \(args.joined(separator: ", ")) }"
  }
}
