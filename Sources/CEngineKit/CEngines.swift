import CFaultline
import FaultKit
import Foundation

/// Engines written in C, through `faultline.h`: an `fl_engine` becomes an `EngineDescriptor`,
/// and a plugin (a shared object exporting `faultline_engine`) is loaded with dlopen.
public enum CEngines {
  /// Why a C engine or plugin cannot be used; says which file and what was expected.
  public struct LoadError: Error, CustomStringConvertible, Sendable {
    public let description: String
  }

  /// The descriptor of a C engine. `vtable` must live as long as the process (a static in the
  /// engine, or a plugin that is never unloaded).
  /// - Throws: `LoadError` for another ABI version or a catalog faultline cannot read.
  public static func descriptor(_ vtable: UnsafePointer<fl_engine>, from origin: String = "built in") throws
    -> EngineDescriptor
  {
    let e = vtable.pointee
    guard e.abi_version == FL_ABI_VERSION else {
      throw LoadError(
        description:
          "\(origin): engine built against C ABI version \(e.abi_version); this faultline speaks \(FL_ABI_VERSION)")
    }
    guard let cname = e.name, let cabout = e.about else {
      throw LoadError(description: "\(origin): the fl_engine has no name or about")
    }
    let name = String(cString: cname)
    let kinds: [FaultPointKind] = [.allocator, .reserve, .transaction, .io, .copy, .worker, .sync]
    var points: [FaultPoint] = []
    for i in 0..<Int(max(0, e.n_points)) {
      let p = e.points[i]
      guard let pn = p.name, p.kind >= 0, Int(p.kind) < kinds.count else {
        throw LoadError(description: "\(origin): engine \(name): point \(i) has no name or an unknown kind \(p.kind)")
      }
      let errnos = (0..<Int(max(0, p.n_errnos))).map { Errno(rawValue: p.errnos[$0]) }
      // What the point honours: a C operation is one scheduler step, so never yield.
      let mask = p.actions == 0 ? UInt32(FL_ACTS_FAIL.rawValue) : p.actions
      let known = UInt32(FL_ACTS_FAIL.rawValue | FL_ACTS_SHORT.rawValue | FL_ACTS_RESTART.rawValue)
      guard mask & ~known == 0 else {
        throw LoadError(
          description:
            "\(origin): engine \(name): point \(String(cString: pn)) declares unknown actions 0x\(String(mask, radix: 16))"
        )
      }
      var actions: [FaultActionKind] = []
      if mask & UInt32(FL_ACTS_FAIL.rawValue) != 0 { actions.append(.fail) }
      if mask & UInt32(FL_ACTS_SHORT.rawValue) != 0 { actions.append(.short) }
      if mask & UInt32(FL_ACTS_RESTART.rawValue) != 0 { actions.append(.restart) }
      points.append(
        FaultPoint(
          String(cString: pn), kind: kinds[Int(p.kind)], errnos: errnos, actions: actions,
          about: p.about.map { String(cString: $0) } ?? ""))
    }
    guard Set(points.map(\.name)).count == points.count else {
      throw LoadError(description: "\(origin): engine \(name): two fault points share a name")
    }
    var operations: [OpKind] = []
    for i in 0..<Int(max(0, e.n_operations)) {
      let s = e.operations[i].map { String(cString: $0) } ?? ""
      guard let k = OpKind(rawValue: s) else {
        throw LoadError(
          description:
            "\(origin): engine \(name): unknown operation '\(s)' (faultline knows: \(OpKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        )
      }
      operations.append(k)
    }
    let bugs = (0..<Int(max(0, e.n_bugs))).map {
      BugSwitch(
        e.bugs[$0].name.map { String(cString: $0) } ?? "", about: e.bugs[$0].about.map { String(cString: $0) } ?? "")
    }
    var invariants: [InvariantName] = []
    for i in 0..<Int(max(0, e.n_invariants)) {
      let s = e.invariants[i].map { String(cString: $0) } ?? ""
      guard InvariantName.shared.contains(InvariantName(rawValue: s)) else {
        throw LoadError(
          description:
            "\(origin): engine \(name): '\(s)' is not a shared invariant (\(InvariantName.shared.map(\.rawValue).joined(separator: ", ")))"
        )
      }
      invariants.append(InvariantName(rawValue: s))
    }
    var own: [any Invariant] = []
    var expected: Set<InvariantName> = []
    for i in 0..<Int(max(0, e.n_own_invariants)) {
      let d = e.own_invariants[i]
      guard let n = d.name else {
        throw LoadError(description: "\(origin): engine \(name): own invariant \(i) has no name")
      }
      let invariant = InvariantName(rawValue: String(cString: n))
      own.append(
        AssertedInvariant(
          name: invariant, checks: d.checks.map { String(cString: $0) } ?? "",
          doesNotCheck: d.does_not_check.map { String(cString: $0) } ?? ""))
      if d.expected != 0 { expected.insert(invariant) }
    }
    invariants += own.map(\.name)
    let catalog = FaultCatalog(points)
    let check = e.check_setup
    let engine = VTable(pointer: vtable)
    var descriptor = EngineDescriptor(
      name: name, about: String(cString: cabout), catalog: catalog, operations: operations, bugs: bugs,
      invariants: invariants, ownInvariants: own,
      checkSetup: { setup in
        guard let check else { return }
        var err = [CChar](repeating: 0, count: 512)
        if check(json(setup), &err, err.count) != 0 {
          let loc = setup?.location
          throw PlanError(
            loc ?? SourceLocation(file: "", line: 1, column: 1), key: "setup",
            expected: "a setup engine \(name) accepts", found: message(err))
        }
      },
      make: { context in try CEngine(engine.pointer, context) })
    descriptor.verifies = e.verify != nil
    descriptor.expectedInvariants = expected
    return descriptor
  }

  /// Loads a plugin: dlopen, the `faultline_engine` symbol, the ABI version.
  public static func load(plugin path: String) throws -> EngineDescriptor {
    guard FileManager.default.fileExists(atPath: path) else {
      throw LoadError(description: "--engine-plugin \(path): no such file")
    }
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw LoadError(description: "--engine-plugin \(path): cannot load: \(String(cString: dlerror()))")
    }
    guard let sym = dlsym(handle, FL_ENGINE_ENTRY) else {
      dlclose(handle)
      throw LoadError(
        description:
          "--engine-plugin \(path): no symbol \(FL_ENGINE_ENTRY) (a plugin exports `const fl_engine *\(FL_ENGINE_ENTRY)(void)`)"
      )
    }
    let entry = unsafeBitCast(sym, to: fl_engine_entry_fn.self)
    guard let vtable = entry() else {
      throw LoadError(description: "--engine-plugin \(path): \(FL_ENGINE_ENTRY)() returned NULL")
    }
    // The handle stays open: the engine's code and strings live as long as the process.
    return try descriptor(vtable, from: "--engine-plugin \(path)")
  }

  /// A plan's setup section as JSON for a C engine: sizes (`64KiB`, `0x10`, `4096`) become
  /// numbers, `true`/`false` booleans, everything else strings; "null" when absent.
  public static func json(_ v: PlanValue?) -> String {
    guard let v else { return "null" }
    switch v {
    case .null: return "null"
    case .scalar(let s, _):
      if s == "true" || s == "false" { return s }
      if let n = PlanValue.parseSize(s) { return String(n) }
      return quote(s)
    case .seq(let items, _): return "[" + items.map { json($0) }.joined(separator: ",") + "]"
    case .map(let entries, _):
      return "{" + entries.map { quote($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
    }
  }

  /// An operation as JSON, keys as plans write them.
  public static func json(_ op: FaultKit.Operation) -> String {
    var parts = ["\"kind\":" + quote(op.kind.rawValue), "\"path\":" + quote(op.path)]
    if let o = op.offset { parts.append("\"offset\":\(o)") }
    if let l = op.length { parts.append("\"length\":\(l)") }
    if let p = op.pattern { parts.append("\"pattern\":\(p)") }
    if let s = op.size { parts.append("\"size\":\(s)") }
    if let t = op.target { parts.append("\"target\":" + quote(t)) }
    if let n = op.name { parts.append("\"name\":" + quote(n)) }
    if let v = op.value { parts.append("\"value\":" + quote(v)) }
    if let m = op.mode { parts.append("\"mode\":" + quote(m)) }
    // Writes fill their bytes with fl_stamp_fill(…, generation, pattern) (faultline.h).
    if let g = op.generation { parts.append("\"generation\":\(g)") }
    return "{" + parts.joined(separator: ",") + "}"
  }

  /// The NUL-terminated message a C engine wrote into an error buffer.
  static func message(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      default:
        if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
      }
    }
    return out + "\""
  }
}

/// An engine's vtable: static, immutable data the C side never changes, shared by every instance.
struct VTable: @unchecked Sendable {
  let pointer: UnsafePointer<fl_engine>
}
