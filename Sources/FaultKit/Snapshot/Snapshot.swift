/// An engine's state at an instant, in the common model every engine reports in: locks, extents
/// by source, space counters, pages with flags, file sizes. Records are kept sorted by their key,
/// so two snapshots compare and diff in one pass and print the same way every time.
public struct Snapshot: Sendable, Hashable, Codable {
  /// Page size in bytes: page `n` of a file covers [n × pageSize, (n+1) × pageSize).
  public var pageSize: UInt64 = 4096
  /// Data is copy-on-write: writeback allocates new blocks for every dirty page, so a dirty page
  /// needs a delalloc reservation even over a mapped extent (btrfs; not ext4's overwrite in place).
  public var copyOnWrite = false
  public var files: [FileRecord] = []
  public var locks: [LockRecord] = []
  public var extents: [ExtentRecord] = []
  public var space: [SpaceRecord] = []
  public var pages: [PageRecord] = []
  /// Free space in the allocator, as block ranges (for `no-double-allocation`).
  public var free: [BlockRange] = []
  /// Rules the engine asserts as it runs (lockdep-style: "map_blocks called without i_rwsem, the
  /// invalidate lock or the page lock") and found broken, in the order they broke. Engine
  /// invariants judge them; the common ones ignore them.
  public var assertions: [AssertionRecord] = []
  /// Work queued to workers and not yet run, one line each (`endio-write: finish /a [0, 16KiB)`).
  public var pendingWork: [String] = []
  /// What the engine could not read for this snapshot, and why, one line each: the state was not
  /// fully read, so a scenario with any can never pass.
  public var unreadable: [String] = []

  public init() {}

  enum CodingKeys: String, CodingKey {
    case pageSize, copyOnWrite, files, locks, extents, space, pages, free, assertions, pendingWork, unreadable
  }

  /// Every key optional: engines outside Swift (the C ABI) send only what they have.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    pageSize = try c.decodeIfPresent(UInt64.self, forKey: .pageSize) ?? 4096
    copyOnWrite = try c.decodeIfPresent(Bool.self, forKey: .copyOnWrite) ?? false
    files = try c.decodeIfPresent([FileRecord].self, forKey: .files) ?? []
    locks = try c.decodeIfPresent([LockRecord].self, forKey: .locks) ?? []
    extents = try c.decodeIfPresent([ExtentRecord].self, forKey: .extents) ?? []
    space = try c.decodeIfPresent([SpaceRecord].self, forKey: .space) ?? []
    pages = try c.decodeIfPresent([PageRecord].self, forKey: .pages) ?? []
    free = try c.decodeIfPresent([BlockRange].self, forKey: .free) ?? []
    assertions = try c.decodeIfPresent([AssertionRecord].self, forKey: .assertions) ?? []
    pendingWork = try c.decodeIfPresent([String].self, forKey: .pendingWork) ?? []
    unreadable = try c.decodeIfPresent([String].self, forKey: .unreadable) ?? []
  }

  /// Sorts every record list by its key: engines call this last.
  public mutating func normalize() {
    Self.sort(&files) { $0.path < $1.path }
    Self.sort(&locks) { $0.key < $1.key }
    Self.sort(&extents) { $0.key < $1.key }
    Self.sort(&space) { $0.name < $1.name }
    Self.sort(&pages) { $0.key < $1.key }
    Self.sort(&free) { $0.start < $1.start }
  }

  /// Sorts unless already sorted (engines mostly report in order; one pass is cheaper than a sort).
  private static func sort<T>(_ xs: inout [T], by less: (T, T) -> Bool) {
    var sorted = true
    for i in xs.indices.dropFirst() where less(xs[i], xs[i - 1]) {
      sorted = false
      break
    }
    if !sorted { xs.sort(by: less) }
  }
}

/// A rule an engine found broken while it ran.
public struct AssertionRecord: Sendable, Hashable, Codable {
  /// The rule's name (an engine invariant name, `map-blocks-locked`).
  public var rule: String
  /// What broke it: `writeback: ext4_map_blocks /a block 3 without i_rwsem, invalidate_lock or page lock`.
  public var detail: String
  public init(rule: String, detail: String) {
    self.rule = rule
    self.detail = detail
  }
}

public struct FileRecord: Sendable, Hashable, Codable {
  public var path: String
  public var size: UInt64
  /// An error recorded on the file's mapping and not yet reported (mapping_set_error).
  public var pendingError: Errno?
  public init(path: String, size: UInt64, pendingError: Errno? = nil) {
    self.path = path
    self.size = size
    self.pendingError = pendingError
  }
}

/// Who holds a lock: a task, and the operation during which it took the lock. A lock whose taker
/// is no longer in that operation was leaked.
public struct Holder: Sendable, Hashable, Codable, CustomStringConvertible {
  public var task: String
  /// 1-based op (or work item) number of that task when it took the lock.
  public var op: Int
  public var opName: String
  public init(task: String, op: Int, opName: String) {
    self.task = task
    self.op = op
    self.opName = opName
  }
  public var description: String { "\(task) in \(opName) #\(op)" }
}

public enum LockKind: String, Sendable, Hashable, Codable, Comparable {
  case page, range, inode, rwsem, mutex
  /// A resource held open (a library's file or extent handle): engines without locks report these.
  case handle
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public enum LockMode: String, Sendable, Hashable, Codable {
  case exclusive, shared
}

/// A held lock.
public struct LockRecord: Sendable, Hashable, Codable {
  public var kind: LockKind
  /// What is locked, as a developer names it: `/a#3` for a page, `/a` for an inode or range tree.
  public var object: String
  /// Byte range for range locks.
  public var range: ByteRange?
  public var mode: LockMode
  /// Holders (several for a shared lock; empty when nobody owns it).
  public var holders: [Holder]
  /// Tasks waiting for it, in task order.
  public var waiters: [String]

  public init(
    kind: LockKind, object: String, range: ByteRange? = nil, mode: LockMode = .exclusive,
    holders: [Holder], waiters: [String] = []
  ) {
    self.kind = kind
    self.object = object
    self.range = range
    self.mode = mode
    self.holders = holders
    self.waiters = waiters
  }

  /// The resource name tasks block on and diffs print: `page /a#3`, `range /a [0, 16KiB)`.
  public var resource: String {
    range.map { "\(kind.rawValue) \(object) \($0)" } ?? "\(kind.rawValue) \(object)"
  }
  var key: String { resource }
}

/// A half-open byte range [start, end).
public struct ByteRange: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
  public var start: UInt64
  public var end: UInt64
  public init(_ start: UInt64, _ end: UInt64) {
    self.start = start
    self.end = end
  }
  public init(start: UInt64, length: UInt64) { self.init(start, start + length) }
  public var length: UInt64 { end - start }
  public var isEmpty: Bool { end <= start }
  public func overlaps(_ o: ByteRange) -> Bool { start < o.end && o.start < end }
  public func contains(_ o: ByteRange) -> Bool { start <= o.start && o.end <= end }
  public func intersection(_ o: ByteRange) -> ByteRange? {
    let r = ByteRange(max(start, o.start), min(end, o.end))
    return r.isEmpty ? nil : r
  }
  public static func < (a: Self, b: Self) -> Bool { (a.start, a.end) < (b.start, b.end) }
  public var description: String { "[\(Size.format(start)), \(Size.format(end)))" }
}

/// A range of device blocks [start, start+count).
public struct BlockRange: Sendable, Hashable, Codable, CustomStringConvertible {
  public var start: UInt64
  public var count: UInt64
  public init(start: UInt64, count: UInt64) {
    self.start = start
    self.count = count
  }
  public var end: UInt64 { start + count }
  public func overlaps(_ o: BlockRange) -> Bool { start < o.end && o.start < end }
  public var description: String { count == 1 ? "block \(start)" : "blocks \(start)-\(end - 1)" }
}

/// Where an extent record comes from.
public enum ExtentSource: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
  /// The on-disk (committed or in-memory) extent tree: file range → disk blocks.
  case tree
  /// A cache of the tree (btrfs extent maps, ext4 extent-status tree).
  case cache
  /// Reserved but unallocated file data.
  case delalloc
  /// An ordered extent: allocated, I/O in flight or finishing.
  case ordered
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public struct ExtentRecord: Sendable, Hashable, Codable {
  public var source: ExtentSource
  public var file: String
  public var range: ByteRange
  /// Device blocks behind it (nil for delalloc and holes).
  public var disk: BlockRange?
  /// Engine words for its state: `written`, `hole`, `pending`, `ioerr`, `unwritten`.
  public var state: String

  public init(source: ExtentSource, file: String, range: ByteRange, disk: BlockRange? = nil, state: String = "") {
    self.source = source
    self.file = file
    self.range = range
    self.disk = disk
    self.state = state
  }

  struct Key: Comparable {
    let source: ExtentSource
    let file: String
    let start: UInt64
    let end: UInt64
    static func < (a: Key, b: Key) -> Bool {
      // Field by field, each compared once: snapshots of fragmented filesystems sort and merge
      // thousands of these.
      if a.source != b.source { return a.source < b.source }
      if a.file != b.file { return a.file < b.file }
      return a.start != b.start ? a.start < b.start : a.end < b.end
    }
  }
  var key: Key { Key(source: source, file: file, start: range.start, end: range.end) }

  /// `ordered /a [0, 16KiB) -> blocks 4-7 (pending)`.
  public var line: String {
    var s = "\(source.rawValue) \(file) \(range)"
    if let disk { s += " -> \(disk)" }
    if !state.isEmpty { s += " (\(state))" }
    return s
  }
}

/// One space-info: counters in bytes, as btrfs's space_info and friends keep them.
public struct SpaceRecord: Sendable, Hashable, Codable {
  public var name: String
  public var total: UInt64
  public var used: UInt64
  /// Allocated to extents whose I/O has not finished (ordered extents).
  public var reserved: UInt64
  /// Promised to operations that have not allocated yet (delalloc reservations).
  public var mayUse: UInt64
  public var free: UInt64
  /// When true, `mayUse` must equal the delalloc bytes and `reserved` the ordered bytes at rest.
  public var backsData: Bool

  public init(
    name: String, total: UInt64, used: UInt64, reserved: UInt64, mayUse: UInt64, free: UInt64, backsData: Bool
  ) {
    self.name = name
    self.total = total
    self.used = used
    self.reserved = reserved
    self.mayUse = mayUse
    self.free = free
    self.backsData = backsData
  }
}

/// Page flags, named as in the kernel.
public struct PageFlags: OptionSet, Sendable, Hashable, Codable {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  public static let locked = PageFlags(rawValue: 1 << 0)
  public static let dirty = PageFlags(rawValue: 1 << 1)
  public static let writeback = PageFlags(rawValue: 1 << 2)
  public static let uptodate = PageFlags(rawValue: 1 << 3)
  public static let checked = PageFlags(rawValue: 1 << 4)
  public static let error = PageFlags(rawValue: 1 << 5)

  public static let all: [(PageFlags, String)] = [
    (.locked, "locked"), (.dirty, "dirty"), (.writeback, "writeback"), (.uptodate, "uptodate"),
    (.checked, "checked"), (.error, "error"),
  ]
  public var names: [String] { PageFlags.all.filter { contains($0.0) }.map(\.1) }
}

public struct PageRecord: Sendable, Hashable, Codable {
  public var file: String
  public var index: UInt64
  public var flags: PageFlags
  /// For a clean, uptodate page with no error over blocks the file maps: whether its bytes equal
  /// the blocks under it (nil when not compared). A buffered read returns the page, so `false`
  /// means a read returns something other than what is on disk.
  public var diskAgrees: Bool?
  public init(file: String, index: UInt64, flags: PageFlags, diskAgrees: Bool? = nil) {
    self.file = file
    self.index = index
    self.flags = flags
    self.diskAgrees = diskAgrees
  }
  struct Key: Comparable {
    let file: String
    let index: UInt64
    static func < (a: Key, b: Key) -> Bool { (a.file, a.index) < (b.file, b.index) }
  }
  var key: Key { Key(file: file, index: index) }
  public var name: String { "\(file)#\(index)" }
}

/// Sizes as people write them: `64KiB`, `4096`.
public enum Size {
  public static func format(_ n: UInt64) -> String {
    if n == 0 { return "0" }
    if n % (1 << 30) == 0 { return "\(n >> 30)GiB" }
    if n % (1 << 20) == 0 { return "\(n >> 20)MiB" }
    if n % (1 << 10) == 0 { return "\(n >> 10)KiB" }
    return "\(n)"
  }
}
