/// What kind of place a fault point is; it decides which actions make sense there.
public enum FaultPointKind: String, Sendable, Codable, CaseIterable {
  case allocator, reserve, transaction, io, copy, worker
  /// A moment the machine may lose power (between operations): only `crash` makes sense.
  case power
  /// A race window in the code (a mapping taken, a lock not yet held): only `yield` makes sense.
  case sync
}

/// What a firing hit does.
public enum FaultActionKind: String, Sendable, Codable, CaseIterable, Comparable {
  case fail, short, restart, yield
  /// The machine loses power here: every write since the last flush that reached the disk is
  /// gone, and the plan's tasks stop.
  case crash
  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One entry of an engine's fault-point catalog.
public struct FaultPoint: Sendable, Hashable, Codable {
  /// The dotted name plans use: `alloc.data`.
  public let name: String
  public let kind: FaultPointKind
  /// The errnos a `fail` action may inject here: what the real code path can return.
  public let errnos: [Errno]
  /// The actions this point supports.
  public let actions: [FaultActionKind]
  /// The modes it supports: persistent needs every later hit to fire too, which a point decided
  /// on the far side may not be able to do (a kernel's fail-nth fails one call), and which means
  /// nothing for a point that fires once (a power cut).
  public let modes: [FaultMode]
  /// One line a filesystem developer reads to know where this is.
  public let about: String

  public init(
    _ name: String, kind: FaultPointKind, errnos: [Errno], actions: [FaultActionKind]? = nil,
    modes: [FaultMode]? = nil, about: String
  ) {
    self.name = name
    self.kind = kind
    self.errnos = errnos
    self.about = about
    self.actions = (actions ?? FaultPoint.defaultActions(for: kind)).sorted()
    self.modes = modes ?? (kind == .power ? [.transient] : [.transient, .persistent])
  }

  enum CodingKeys: String, CodingKey { case name, kind, errnos, actions, modes, about }

  /// Results written before points had modes decode with both.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    kind = try c.decode(FaultPointKind.self, forKey: .kind)
    errnos = try c.decode([Errno].self, forKey: .errnos)
    actions = try c.decode([FaultActionKind].self, forKey: .actions)
    modes = try c.decodeIfPresent([FaultMode].self, forKey: .modes) ?? [.transient, .persistent]
    about = try c.decode(String.self, forKey: .about)
  }

  /// The actions a point of this kind supports unless it says otherwise.
  public static func defaultActions(for kind: FaultPointKind) -> [FaultActionKind] {
    switch kind {
    case .allocator: [.fail, .short, .yield]
    case .transaction: [.fail, .restart, .yield]
    case .copy: [.fail, .short, .yield]
    case .reserve, .io, .worker: [.fail, .yield]
    case .sync: [.yield]
    case .power: [.crash]
    }
  }
}

/// An engine's published fault points; a point's index in the catalog is its identity at run time,
/// so a hit costs an array index, not a string lookup.
public struct FaultCatalog: Sendable {
  public let points: [FaultPoint]
  public init(_ points: [FaultPoint]) {
    precondition(Set(points.map(\.name)).count == points.count, "duplicate fault point names")
    self.points = points
  }
  public func index(of name: String) -> Int? { points.firstIndex { $0.name == name } }
  public subscript(_ id: FaultPointID) -> FaultPoint { points[id.index] }
  /// The points whose names match a glob (`alloc.*`, `*`, `io.write`), in catalog order.
  public func matching(_ glob: String) -> [FaultPoint] {
    points.filter { Glob.matches(glob, $0.name) }
  }
}

/// A point's identity at run time: its index in the engine's catalog.
public struct FaultPointID: Hashable, Sendable {
  public let index: Int
  public init(_ index: Int) { self.index = index }
}

/// Shell-style globs over dotted names: `*` matches any run of characters, `?` one.
public enum Glob {
  public static func matches(_ pattern: String, _ name: String) -> Bool {
    let p = Array(pattern.utf8)
    let n = Array(name.utf8)
    var pi = 0
    var ni = 0
    var star = -1
    var mark = 0
    while ni < n.count {
      if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == n[ni]) {
        pi += 1
        ni += 1
      } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
        star = pi
        mark = ni
        pi += 1
      } else if star >= 0 {
        pi = star + 1
        mark += 1
        ni = mark
      } else {
        return false
      }
    }
    while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
  }
}
