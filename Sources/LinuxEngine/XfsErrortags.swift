import FaultKit

/// XFS's own error injection (XFS_DEBUG: `/sys/fs/xfs/<dev>/errortag/<tag>`) as fault points
/// `xfs.<tag>`. A tag has no pass counter the host could read, so its hits are operations: each
/// operation of an xfs plan whose setup says `errortags: true` is one hit of each tag point; a firing hit sets the tag to 1 (every
/// pass fails) or to its delay for that operation (persistent: for the rest of the plan). The tag
/// is the mount's, so it fires for whatever passes it during the operation (the operation's task
/// and the workers it wakes). XFS says when it fires (`Injecting error at file F, line L` or
/// `Injecting N ms delay at file F, line L`, rate-limited to 10 a call site per 5 s): a tag armed
/// for an operation with no such line is unjudged (never passed, or the line held back).
struct XfsErrortag: Sendable {
  let tag: String
  let kind: FaultPointKind
  let errnos: [Errno]
  let actions: [FaultActionKind]
  /// What arming writes: 1 (fire at every pass) or a delay in milliseconds.
  let value: String
  /// The source file XFS names when the tag fires (`Injecting error at file fs/xfs/F, line L`).
  let site: String
  let about: String

  var point: String { "xfs." + tag }

  /// The 6.12 tags that reach allocator, reserve-space, extent-freeing and I/O paths, and the two
  /// delays that widen buffered-write and writeback windows. Tags XFS_DEBUG builds but 6.12 never
  /// tests (stratread, stratcmpl, diowrite) are left out.
  static let all: [XfsErrortag] = [
    XfsErrortag(
      tag: "free_extent", kind: .allocator, errnos: [.io], actions: [.fail], value: "1", site: "xfs_alloc.c",
      about: "xfs_free_extent fails with EIO (extent freeing in a transaction: punch, truncate, unlink, COW remap)"),
    XfsErrortag(
      tag: "ag_resv_fail", kind: .reserve, errnos: [.noSpace], actions: [.fail], value: "1", site: "xfs_ag_resv.c",
      about: "an AG's metadata reservation fails with ENOSPC when it is set up (mount, growfs)"),
    XfsErrortag(
      tag: "buf_ioerror", kind: .io, errnos: [.io], actions: [.fail], value: "1", site: "xfs_buf.c",
      about: "a metadata buffer's I/O completes with an error (xfs_buf_ioapply: bio status IOERR)"),
    XfsErrortag(
      tag: "bmap_alloc_minlen_extent", kind: .allocator, errnos: [], actions: [.short], value: "1", site: "xfs_bmap.c",
      about: "xfs_bmap_btalloc allocates exact minimum-length extents only (an allocator that returns the least it may)"
    ),
    XfsErrortag(
      tag: "write_delay_ms", kind: .sync, errnos: [], actions: [.yield], value: "100", site: "xfs_iomap.c",
      about:
        "a 100 ms delay in xfs_iomap_valid, after a buffered write's cached mapping was found valid (the window in which another task changes it)"
    ),
    XfsErrortag(
      tag: "wb_delay_ms", kind: .sync, errnos: [], actions: [.yield], value: "100", site: "xfs_aops.c",
      about: "a 100 ms delay in xfs_map_blocks, before writeback looks its cached mapping up again"),
  ]

  static func named(_ point: String) -> XfsErrortag? { all.first { $0.point == point } }

  var faultPoint: FaultPoint {
    FaultPoint(point, kind: kind, errnos: errnos, actions: actions, modes: [.transient, .persistent], about: about)
  }
}

/// The errortags armed for the running operation, and how each was decided.
final class ErrortagArming: @unchecked Sendable {
  /// Tags armed for the rest of the plan (persistent faults that fired).
  private var persistent: Set<String> = []
  /// Tags armed now (transient for this operation, or persistent).
  private(set) var armed: Set<String> = []
  private var said: Set<String> = []

  static func path(_ tag: String) -> String {
    let dev = LinuxMachine.device.split(separator: "/").last.map(String.init) ?? "ubda"
    return "/sys/fs/xfs/\(dev)/errortag/\(tag)"
  }

  /// Before an operation of an xfs plan: the tags whose next hit fires are set.
  func before(_ harness: Harness, _ machine: LinuxMachine, concurrent: Bool) throws {
    for t in XfsErrortag.all {
      guard let pid = harness.injector.catalog.index(of: t.point) else { continue }
      let point = FaultPointID(pid)
      var fire = persistent.contains(t.tag)
      for f in harness.farFaults(point) {
        guard case .nth(let n) = f.trigger else {
          say(harness, "trigger \(t.point)", "\(f) cannot be placed: an errortag is armed per operation (nth only)")
          continue
        }
        if let task = f.task, task != harness.scheduler.currentName { continue }
        if let op = f.op, op != harness.scheduler.currentOp { continue }
        let matched = harness.injector.hits.reduce(0) { k, h in
          k + (h.point == t.point && (f.task.map { $0 == h.task } ?? true) && (f.op.map { $0 == h.op } ?? true) ? 1 : 0)
        }
        if matched + 1 == n || (f.mode == .persistent && matched + 1 >= n) { fire = true }
      }
      guard fire != armed.contains(t.tag) else { continue }
      if fire && concurrent {
        say(
          harness, "concurrent \(t.point)",
          "\(t.point) is the mount's: armed while another operation is in the guest, it fires for that one too")
      }
      try set(machine, t, on: fire)
    }
  }

  /// After the operation: one hit of each tag point, through the injector; a tag armed that XFS
  /// never passed (no `Injecting` line in `log`) did not fire, and that is said. Returns the hits
  /// that fired.
  func after(_ harness: Harness, _ machine: LinuxMachine, log: [KernelMessage]) throws -> [Hit] {
    let injected = log.filter { $0.text.contains("Injecting ") && $0.text.contains(" at file ") }.map(\.text)
    var fired: [Hit] = []
    for t in XfsErrortag.all {
      guard let pid = harness.injector.catalog.index(of: t.point) else { continue }
      let point = FaultPointID(pid)
      let got = harness.farHits(point, total: harness.injector.count(point) + 1)
      fired += got
      if !got.isEmpty && harness.farFaults(point).contains(where: { $0.mode == .persistent }) {
        persistent.insert(t.tag)
      }
      if got.isEmpty != !armed.contains(t.tag) {
        harness.unjudged(
          Unjudged(
            .placement, moment: "\(t.point) hits",
            "\(t.point) was \(armed.contains(t.tag) ? "armed" : "not armed") for \(harness.scheduler.currentOp), the injector decided \(got.isEmpty ? "it passes" : "it fires")"
          ))
      }
      if !got.isEmpty && !injected.contains(where: { $0.contains("/\(t.site), line") }) {
        harness.unjudged(
          Unjudged(
            .placement, moment: "\(t.point) hits",
            "\(t.point) was armed for \(harness.scheduler.currentOp), and XFS printed no `Injecting` line from \(t.site): it never passed the tag, or the line's rate limit (10 a site per 5 s, across scenarios) held it back; not counted as tested"
          ))
      }
      if armed.contains(t.tag) && !persistent.contains(t.tag) { try set(machine, t, on: false) }
    }
    return fired
  }

  /// The filesystem was unmounted (a power cut): its tags went with the mount.
  func mountGone() {
    armed = []
    persistent = []
  }

  /// The plan is over: nothing stays armed (the recovery mount and the checker run clean).
  func disarmAll(_ machine: LinuxMachine) {
    for t in XfsErrortag.all where armed.contains(t.tag) { try? set(machine, t, on: false) }
    persistent = []
  }

  private func set(_ machine: LinuxMachine, _ t: XfsErrortag, on: Bool) throws {
    try machine.must("write", [("path", Self.path(t.tag)), ("value", on ? t.value : "0")])
    if on { armed.insert(t.tag) } else { armed.remove(t.tag) }
  }

  private func say(_ harness: Harness, _ key: String, _ why: String) {
    guard said.insert(key).inserted else { return }
    harness.unjudged(Unjudged(.placement, moment: "arming xfs errortags", why))
  }
}
