import CFaultline
import FaultKit
import Foundation

/// A C engine instance as an ordinary `Engine`: each call goes through the engine's vtable;
/// fault points reach the harness through the context's callbacks. A C operation runs to its
/// end as one scheduler step (C engines are not preempted inside an operation).
final class CEngine: Engine, @unchecked Sendable {
  let vtable: UnsafePointer<fl_engine>
  let harness: Harness
  let ctx: UnsafeMutablePointer<fl_ctx>
  var instance: UnsafeMutableRawPointer?
  /// The last injected failure, to mark an errno the operation returns as injected.
  var injected: (errno: Int32, hit: HitRef)?
  /// C strings handed to the engine (task and operation names), kept until the engine goes.
  var names: [String: UnsafeMutablePointer<CChar>] = [:]

  init(_ vtable: UnsafePointer<fl_engine>, _ context: EngineContext) throws {
    self.vtable = vtable
    self.harness = context.harness
    let n = Int(vtable.pointee.n_points)
    guard let ctx = fl_ctx_new(Int32(n)) else { throw SetupError(message: "cannot allocate a fault context") }
    self.ctx = ctx
    ctx.pointee.hit = { h, point in CEngine.from(h).hit(point) }
    ctx.pointee.task = { h in CEngine.from(h).name(CEngine.from(h).harness.holder.task) }
    ctx.pointee.op_index = { h in Int32(CEngine.from(h).harness.holder.op) }
    ctx.pointee.op_name = { h in CEngine.from(h).name(CEngine.from(h).harness.holder.opName) }
    ctx.pointee.trace = { h, line in
      if let line { CEngine.from(h).harness.trace.append(.note(String(cString: line))) }
    }
    ctx.pointee.ignored = { h, point in
      let e = CEngine.from(h)
      if point >= 0 && point < e.vtable.pointee.n_points { e.harness.notHonoured(FaultPointID(Int(point))) }
    }
    ctx.pointee.harness = Unmanaged.passUnretained(self).toOpaque()
    let setup = CEngines.json(context.setup)
    let bugs = context.bugs.sorted()
    var err = [CChar](repeating: 0, count: 512)
    let made = withCStrings(bugs) { list in
      vtable.pointee.create(ctx, setup, list, Int32(bugs.count), &err, err.count)
    }
    // No fl_ctx_free here: every stored property is set, so deinit runs when init throws, and
    // it frees the context (freeing it here too was a double free).
    guard let made else {
      throw SetupError(message: "engine \(String(cString: vtable.pointee.name)): \(CEngines.message(err))")
    }
    instance = made
  }

  deinit {
    if let instance { vtable.pointee.destroy(instance) }
    fl_ctx_free(ctx)
    for p in names.values { free(p) }
  }

  static func from(_ p: UnsafeMutableRawPointer?) -> CEngine {
    Unmanaged<CEngine>.fromOpaque(p!).takeUnretainedValue()
  }

  func name(_ s: String) -> UnsafePointer<CChar> {
    if let p = names[s] { return UnsafePointer(p) }
    let p = strdup(s)!
    names[s] = p
    return UnsafePointer(p)
  }

  /// Whether the points are armed. They are exactly while the harness counts hits (it injects,
  /// and no snapshot or verify is under way), so every armed pass is a counted hit and an engine
  /// that counts its armed passes numbers hits as the harness does (faultline.h). Armed, every
  /// point goes through the harness: hits are counted and traced as a Swift engine's are.
  private var armed = false

  private func arm(_ on: Bool) {
    guard on != armed else { return }
    for i in 0..<Int(vtable.pointee.n_points) { fl_ctx_arm(ctx, Int32(i), on ? 1 : 0) }
    armed = on
  }

  func hit(_ point: Int32) -> fl_decision {
    guard point >= 0 && point < vtable.pointee.n_points else {
      return fl_decision(action: 0, err: 0, max_bytes: 0)
    }
    switch harness.hitNow(FaultPointID(Int(point))) {
    case .pass, .yield: return fl_decision(action: Int32(FL_PASS.rawValue), err: 0, max_bytes: 0)
    case .crash:
      // The C ABI has no crash decision: the engine cannot carry it out, so it did not fire.
      harness.notHonoured(FaultPointID(Int(point)))
      return fl_decision(action: Int32(FL_PASS.rawValue), err: 0, max_bytes: 0)
    case .fail(let e):
      if let ref = e.injected { injected = (e.errno.rawValue, ref) }
      return fl_decision(action: Int32(FL_FAIL.rawValue), err: e.errno.rawValue, max_bytes: 0)
    case .short(let m): return fl_decision(action: Int32(FL_SHORT.rawValue), err: 0, max_bytes: m ?? 0)
    case .restart: return fl_decision(action: Int32(FL_RESTART.rawValue), err: 0, max_bytes: 0)
    }
  }

  /// An errno from the engine: injected when it is the one the last injected failure returned.
  func error(_ rc: Int32) -> FSError {
    defer { injected = nil }
    if let i = injected, i.errno == rc { return FSError(Errno(rawValue: rc), injected: i.hit) }
    return FSError(Errno(rawValue: rc))
  }

  func setup() async throws {
    arm(false)
    injected = nil
    let rc = vtable.pointee.setup(instance)
    if rc != 0 { throw error(rc) }
  }

  func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
    // Each operation starts at a schedule point: tasks interleave between C operations.
    try await harness.scheduler.point("c-engine \(op.kind.rawValue)")
    arm(harness.injecting)
    injected = nil
    var out = fl_buf(data: nil, len: 0)
    let rc = vtable.pointee.perform(instance, CEngines.json(op), &out)
    defer { free(out.data) }
    if rc != 0 { throw error(rc) }
    guard let data = out.data else { return op.kind == .read ? [] : nil }
    return Array(UnsafeBufferPointer(start: data, count: out.len))
  }

  /// The engine's snapshot, read: NULL, bytes that are not the common model, or unknown keys are
  /// `UnreadableState` (the scenario is unjudged there), never an empty state that passes.
  func snapshot() throws -> Snapshot {
    arm(false)
    guard let json = vtable.pointee.snapshot(instance) else {
      throw UnreadableState(.snapshot, "the engine's snapshot returned NULL")
    }
    defer { free(json) }
    let bytes = UnsafeBufferPointer(
      start: UnsafeRawPointer(json).assumingMemoryBound(to: UInt8.self), count: strlen(json))
    if let known = SnapshotMemo.shared.snapshot(bytes) { return known }
    do {
      var s = try SnapshotJSON.parse(bytes)
      s.normalize()
      SnapshotMemo.shared.remember(bytes, s)
      return s
    } catch {
      throw UnreadableState(
        .snapshot, "the engine's snapshot is not the common model's JSON: \(error)", rawBytes: bytes)
    }
  }

  /// The engine's findings: NULL is none; anything but the JSON array faultline.h describes is
  /// `UnreadableState` (the checks ran and said something nobody can read: not a pass).
  func verify() async throws -> [Finding] {
    arm(false)
    guard let verify = vtable.pointee.verify, let json = verify(instance) else { return [] }
    defer { free(json) }
    struct Raw: Decodable {
      let invariant: String
      let message: String
      let evidence: [String]?
    }
    let data = Data(bytes: json, count: strlen(json))
    do {
      let raw = try JSONDecoder().decode([Raw].self, from: data)
      return raw.map {
        Finding(invariant: InvariantName(rawValue: $0.invariant), message: $0.message, evidence: $0.evidence ?? [])
      }
    } catch {
      throw UnreadableState(
        .verify, "verify's findings are not the JSON array faultline.h describes: \(error)", rawBytes: data)
    }
  }

  func recover() async throws {
    arm(harness.injecting)
    injected = nil
    let rc = vtable.pointee.recover(instance)
    if rc != 0 { throw error(rc) }
  }
}

/// Calls `body` with a C array of C strings (valid for the call only).
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
  let dup = strings.map { UnsafePointer(strdup($0)!) }
  defer { for p in dup { free(UnsafeMutablePointer(mutating: p)) } }
  let list: [UnsafePointer<CChar>?] = dup
  return list.withUnsafeBufferPointer { body($0.baseAddress) }
}
