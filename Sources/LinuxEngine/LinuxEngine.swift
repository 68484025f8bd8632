import FaultKit
import Foundation

/// Engine `linux`: the real kernel's ext4, btrfs or xfs in a User-Mode Linux machine. Operations
/// run in the guest, each plan task on a guest thread of its own, concurrently; the scheduler
/// waits on the guest as on far-side work (`ExternalCompletions`). The disk's points are counted
/// and fired by the disk shim on the host side of the guest's disk; their hits come back here
/// after each operation and go through the injector as any hit does. The state comes back as
/// text (FIEMAP, statfs, the kernel log) that may be missing: then the scenario is unjudged there.
final class LinuxEngine: Engine, ExternalCompletions, @unchecked Sendable {
  let harness: Harness
  let setupConfig: LinuxSetup
  let machine: LinuxMachine
  /// Every path the scenario named, in first-use order: what snapshots look at.
  private var known: [String] = []
  /// Operations sent to the guest and not yet answered: id → what they are.
  private var outstanding: [Int: String] = [:]
  /// Far-side faults armed for this scenario.
  private var armed = false
  /// Faults that fired so far (far side and power cut): explains the filesystem's error reports.
  var firedSoFar = 0
  /// Kernel reports of this scenario, by the class of assertion they become.
  private var reports: [AssertionRecord] = []
  /// How many of `reports` the last snapshot carried as assertions.
  private var reportsInSnapshot = 0
  /// Paths whose last data operation was a successful fsync (delalloc there is a violation).
  private var synced: Set<String> = []
  /// The stopped-state checks ran (the filesystem went through a power cut, recovery and fsck).
  private var verified = false
  private var poweredOff = false
  private var debugCount = 0
  /// XFS errortags armed for the running operation (xfs plans only).
  private let errortags = ErrortagArming()
  /// Lockdep reported during this scenario (and is off until the machine boots again).
  var lockdepSpent = false
  /// Operations in the guest whose allocations are being counted (`mem.alloc`).
  var counting = 0
  /// What was said unjudged about `mem.alloc` already (said once a scenario).
  var memAllocSaid: Set<String> = []
  /// `io.submit` (fail_make_request) in this scenario.
  var submit = IoSubmitState()
  /// The page frames locked at the scenario's first snapshot (its baseline) and at the last.
  var framesAtBaseline: Set<UInt64>?
  var framesLocked: Set<UInt64> = []
  /// Frames locked now that were not at the baseline: a page left locked, which an unmount
  /// would wait on for ever.
  var pagesLeftLocked: [UInt64] { framesLocked.subtracting(framesAtBaseline ?? []).sorted() }

  /// Seconds an operation may take in the guest before its task counts as hung.
  static var opSeconds: Double {
    ProcessInfo.processInfo.environment["FAULTLINE_LINUX_OP_SECONDS"].flatMap(Double.init) ?? 60
  }

  init(_ context: EngineContext) throws {
    harness = context.harness
    setupConfig = try LinuxSetup(context.setup)
    let kernel: LinuxKernel
    do {
      kernel = try LinuxKernel.locate(explicit: setupConfig.kernel)
      machine = try MachinePool.shared.take(kernel: kernel, setup: setupConfig)
    } catch {
      throw SetupError(message: "engine linux: \(error)")
    }
    known = setupConfig.files.map(\.path)
    harness.scheduler.external = self
  }

  deinit {
    if !outstanding.isEmpty { machine.state = .broken("operations still running in the guest at the end") }
    if lockdepSpent {
      machine.state = .broken("lockdep reported and turned itself off: the next scenario needs a fresh boot")
    }
    MachinePool.shared.give(machine)
  }

  // MARK: Engine

  func setup() async throws {
    machine.state = .dirty
    do {
      try machine.mount()
      // kmemleak's findings so far (boot, mkfs, earlier scenarios) are reported and let go:
      // what it finds at rest was allocated during this scenario.
      if setupConfig.kmemleak { try machine.must("kmemleak", [("mode", "baseline")], seconds: 300) }
      try machine.drainKernelLog()
    } catch {
      throw SetupError(message: "engine linux: mounting \(setupConfig.fs.rawValue): \(error)")
    }
    // The scenario's log starts here: what came before (boot, earlier scenarios) is not kept.
    machine.beginScenarioLog()
  }

  func perform(_ op: FaultKit.Operation) async throws -> [UInt8]? {
    try await harness.scheduler.point("linux \(op.kind.rawValue)")
    // Another task cut the power: this operation never runs.
    if poweredOff { throw PowerCut(after: OpOutcome(status: .powerCut)) }
    try syncArming()
    // A control file is the kernel's, not a file of the plan's filesystem.
    if op.kind != .control { note(op.path) }
    if let t = op.target, op.kind == .rename || op.kind == .link { note(t) }
    var fields: [(String, String)] = [
      ("task", harness.scheduler.currentName), ("kind", op.kind.rawValue), ("path", op.path),
    ]
    if let v = op.offset { fields.append(("offset", "\(v)")) }
    if let v = op.length { fields.append(("length", "\(v)")) }
    if let v = op.pattern { fields.append(("pattern", "\(v)")) }
    if let v = op.generation { fields.append(("generation", "\(v)")) }
    if let v = op.size { fields.append(("size", "\(v)")) }
    if let v = op.target { fields.append(("target", v)) }
    if let v = op.name { fields.append(("name", v)) }
    if let v = op.value { fields.append(("value", v)) }
    if let v = op.mode { fields.append(("mode", v)) }
    try ioSubmitBefore()
    let nth = memAllocRequest()
    if let nth { fields.append(("nth", "\(nth)")) }
    let tagging = setupConfig.fs == .xfs && setupConfig.errortags && harness.injecting
    if tagging { try errortags.before(harness, machine, concurrent: !outstanding.isEmpty) }
    let id = try machine.channel.send("OP", fields)
    if nth != nil { counting += 1 }
    defer { if nth != nil { counting -= 1 } }
    let what = "guest: \(op.kind.rawValue) \(op.path)"
    outstanding[id] = what
    var reply: GuestReply?
    // Bounded by the scheduler: each wake is a step, and a guest that stops answering ends the
    // wait (awaitCompletions returns nothing: the task is hung).
    while reply == nil {
      if let r = machine.channel.take(id) {
        reply = r
        break
      }
      try await harness.scheduler.block(on: Self.key(id), what: what, external: true)
    }
    outstanding[id] = nil
    var injected = (nth != nil ? memAllocHits(reply!, asked: nth!) : []) + collectHits()
    injected += try ioSubmitAfter(othersInGuest: !outstanding.isEmpty)
    let log = try collectKernelLog()
    if tagging {
      injected += try errortags.after(harness, machine, log: log)
    }
    guard let rc = reply!.rcField else {
      throw LinuxEngineError.broken("the agent answered \(what) without an errno: \(reply!.fields.keys.sorted())")
    }
    var bytes: [UInt8]?
    if rc == 0 && (op.kind == .read || op.kind == .dioRead) {
      // A read's bytes that are missing or not base64 are no answer, never an empty read.
      guard let b = reply!.bytes("data") ?? (reply!.fields["data"] == nil ? [] : nil) else {
        throw LinuxEngineError.broken("the agent's answer to \(what) carries bytes that do not decode")
      }
      bytes = b
    }
    trackSync(op, ok: rc == 0)
    var error: FSError?
    if rc != 0 {
      let e = Errno(rawValue: rc)
      // An error an injected failure hands on is marked as injected: an errno its point declares
      // (EIO from the disk's, ENOMEM from an allocation's, an errortag's own).
      let catalog = harness.injector.catalog
      if let hit = injected.last(where: { h in catalog.points.first { $0.name == h.point }?.errnos.contains(e) == true }
      ) {
        error = FSError(e, injected: HitRef(point: hit.point, hit: hit.hit))
      } else {
        error = FSError(e)
      }
    }
    try await powerCutPoint(after: error.map { OpOutcome.error($0) } ?? .ok, returned: bytes)
    if let error { throw error }
    return bytes
  }

  /// `power-cut`, after each operation: when it fires and no other operation is in the guest,
  /// the power goes (writes since the last flush are lost), the filesystem is mounted again (its
  /// recovery), and the plan stops. With another operation in flight the cut cannot be clean, so
  /// it is not carried out (and not counted as fired).
  private func powerCutPoint(after outcome: OpOutcome, returned: [UInt8]?) async throws {
    guard let id = harness.injector.catalog.index(of: "power-cut") else { return }
    guard case .crash = try await harness.hit(FaultPointID(id)) else { return }
    guard outstanding.isEmpty, machine.flushesReachHost else {
      harness.notHonoured(FaultPointID(id))
      return
    }
    // Not counted in `firedSoFar`: a power cut explains no filesystem error (recovery must be clean).
    do {
      _ = collectHits()
      try machine.powerCut()
      errortags.mountGone()
      try machine.mount()
      try collectKernelLog()
    } catch {
      harness.unjudged(Unjudged(.engineError, moment: "the power cut", "the machine did not come back: \(error)"))
    }
    poweredOff = true
    throw PowerCut(after: outcome, returned: returned)
  }

  func snapshot() throws -> Snapshot {
    guard case .dirty = machine.state else {
      throw UnreadableState(.snapshot, "the guest cannot be asked: \(machine.state)")
    }
    endArming()
    try collectKernelLog()
    let r: GuestReply
    do {
      r = try machine.query(
        "snap", [("dir", LinuxMachine.mountPoint), ("paths", known.joined(separator: ","))], seconds: 60)
    } catch {
      throw UnreadableState(.snapshot, "snapshot query: \(error)")
    }
    guard r.rc == 0, let json = r.bytes("out") else {
      throw UnreadableState(.snapshot, "snapshot query failed: \(Errno(rawValue: r.rc).name)")
    }
    if let d = ProcessInfo.processInfo.environment["FAULTLINE_LINUX_DEBUG"] {
      FileManager.default.createFile(atPath: d + "/snap-\(debugCount).json", contents: Data(json))
      debugCount += 1
    }
    var s = try LinuxSnapshot.parse(json)
    // A filesystem that shut down or went read-only after an injected fault refuses FIEMAP and
    // lstat (EIO) by design: still unjudged (its extent state was not read), but said why.
    if !s.unreadable.isEmpty, let report = reports.first(where: { $0.rule == LinuxModel.fsErrorsReported.rawValue }) {
      let cause = report.detail.split(separator: "\n").first.map(String.init) ?? report.detail
      s.unreadable = s.unreadable.map { "\($0), after the filesystem's error report: \(cause)" }
    }
    // Read at the baseline and at rest only (not while the plan runs, when pages are locked for
    // every operation in flight and pages-unlocked judges nothing): a scan costs about 0.1 s.
    let frames = harness.injecting ? PageFrames() : try pageFrames()
    if frames.cut {
      s.unreadable.append("/proc/kpageflags: more page frames locked or under writeback than the agent reports (256)")
    }
    s.assertions = reports + delallocAfterFsync(s) + pagesUnsettled(s) + frames.assertions
    reportsInSnapshot = reports.count
    s.normalize()
    return s
  }

  /// After the plan: kmemleak's scan at rest (setup kmemleak: true), then a power cut (every
  /// write since the last flush that reached the disk is lost), the recovery mount, a clean
  /// unmount, and the filesystem's checker on the image.
  func verify() async throws -> [Finding] {
    verified = true
    guard case .dirty = machine.state else {
      // A guest stuck in an operation: what the kernel reported before the engine gave up on it
      // (a hung task with its stack, a lockdep report) is the finding; the rest cannot be checked.
      let found = reportFindings()
      if !found.isEmpty { return found }
      throw UnreadableState(.verify, "the guest cannot be asked: \(machine.state)")
    }
    let held = lockdepSpent ? [] : try heldLocksFindings()
    let leaks = held + (setupConfig.kmemleak ? try kmemleakFindings() : [])
    if !pagesLeftLocked.isEmpty {
      // Unmounting evicts the files' pages, and waits on a locked one for ever.
      machine.state = .broken("a page frame was left locked: the filesystem cannot be unmounted")
      harness.unjudged(
        Unjudged(
          .verify, moment: "verify",
          "page frame(s) \(pagesLeftLocked.map(String.init).joined(separator: ", ")) left locked at rest: the power cut, recovery and fsck are not run (unmounting would wait on the page for ever)"
        ))
      return leaks + reportFindings()
    }
    guard machine.flushesReachHost else {
      if !leaks.isEmpty { return leaks }
      throw UnreadableState(
        .verify,
        "this kernel's ubd never passes a flush to the host (Kernel/patches/0001 fixes it): a power cut cannot tell durable writes from others, so recovery is not judged"
      )
    }
    var findings: [Finding] = leaks
    do {
      endArming()
      machine.ubd.disarm()
      if machine.mounted { try machine.powerCut() }
      let mounted = try machine.tryMount()
      try collectKernelLog()
      if mounted != 0 {
        findings.append(
          Finding(
            invariant: LinuxModel.fsckClean,
            message: "after the power cut, \(setupConfig.fs.rawValue) does not mount: \(Errno(rawValue: mounted).name)",
            evidence: machine.scenarioLog.suffix(20).map(\.text)))
        return findings + reportFindings()
      }
      try machine.umount()
      let check = try machine.run(setupConfig.fs.fsck(device: LinuxMachine.device), seconds: 300)
      try collectKernelLog()
      let lines = check.output.split(separator: "\n").prefix(60).map(String.init)
      if check.status != "0" && !setupConfig.fs.fsckFoundDamage.contains(check.status) {
        throw UnreadableState(
          .verify,
          "the checker did not check the image (exit \(check.status)): \(lines.prefix(5).joined(separator: " / "))")
      }
      if check.status != "0" {
        findings.append(
          Finding(
            invariant: LinuxModel.fsckClean,
            message:
              "after the power cut and recovery, \(setupConfig.fs.fsck(device: "").first!.split(separator: "/").last!) exited \(check.status)",
            evidence: lines))
      }
    } catch let e as UnreadableState {
      throw e
    } catch {
      throw UnreadableState(.verify, "the power cut, recovery and fsck did not complete: \(error)")
    }
    return findings + reportFindings()
  }

  /// Crash and come back: mounting again after the power cut `verify` made (or making it now).
  func recover() async throws {
    if !pagesLeftLocked.isEmpty {
      throw UnreadableState(
        .engineError, "recovery needs the filesystem unmounted, which would wait for ever on the page left locked")
    }
    do {
      if !verified && machine.mounted {
        endArming()
        if machine.flushesReachHost { try machine.powerCut() } else { try machine.umount() }
      }
      if !machine.mounted { try machine.mount() }
      try collectKernelLog()
      poweredOff = false
    } catch let e as FSError {
      throw e
    } catch {
      throw UnreadableState(.engineError, "recovery: \(error)")
    }
  }

  func pageBytes(_ path: String, _ index: UInt64) -> [UInt8]? { nil }

  // MARK: ExternalCompletions

  static func key(_ id: Int) -> WaitKey { WaitKey(kind: 200, a: id) }

  func awaitCompletions() -> [WaitKey] {
    let deadline = LinuxMachine.deadline(Self.opSeconds)
    // Bounded by the deadline.
    while true {
      let done = outstanding.keys.sorted().filter { machine.channel.hasReply($0) }
      if !done.isEmpty { return done.map(Self.key) }
      do {
        guard try machine.channel.waitForAny(until: deadline) else { break }
      } catch {
        break
      }
    }
    // Nothing answered in time: the guest is stuck (its tasks hang); the machine cannot serve
    // another scenario. What the kernel said first (the hung-task detector's report, with the
    // stuck task's stack and the locks held) is read while the agent's query thread still answers.
    _ = try? collectKernelLog(seconds: 20)
    machine.state = .broken(
      "operations did not return within \(Int(Self.opSeconds)) s: \(outstanding.values.sorted().joined(separator: "; "))"
    )
    return []
  }

  // MARK: The disk's points

  /// Arms the disk shim for this scenario's faults when the plan starts; disarms when it ends.
  private func syncArming() throws {
    if harness.injecting && !armed {
      armed = true
      machine.ubd.disarmAndZero()
      for p in UbdControl.Point.allCases {
        guard let id = harness.injector.catalog.index(of: p.name) else { continue }
        let specs = harness.farFaults(FaultPointID(id))
        guard let f = specs.first else { continue }
        if specs.count > 1 || f.task != nil || f.op != nil {
          harness.unjudged(
            Unjudged(
              .placement, moment: "arming \(p.name)",
              "the disk shim fires one fault per point, for any task: \(specs.map(\.description).joined(separator: "; ")) cannot be placed exactly"
            ))
        }
        guard case .fail(let e) = f.action else { continue }
        let persistent = f.mode == .persistent
        switch f.trigger {
        case .nth(let n): machine.ubd.arm(p, from: n, to: persistent ? Int.max : n, every: 0, errno: e.rawValue)
        case .after(let skip, let times):
          machine.ubd.arm(
            p, from: skip + 1, to: persistent ? Int.max : times.map { skip + $0 } ?? Int.max, every: 0,
            errno: e.rawValue)
        case .every(let n):
          machine.ubd.arm(p, from: n, to: Int.max, every: persistent ? 0 : n, errno: e.rawValue)
        case .probability:
          harness.unjudged(
            Unjudged(
              .placement, moment: "arming \(p.name)",
              "the disk shim cannot fire \(f) (probability triggers are decided here, not there)"))
        }
      }
    } else {
      endArming()
    }
  }

  /// The plan is over (the harness stopped injecting): the shim is disarmed, and what it fired
  /// is checked against what the injector decided, hits after the plan included (a fault firing
  /// during the snapshot's reads would otherwise go unseen).
  private func endArming() {
    if !harness.injecting {
      errortags.disarmAll(machine)
      ioSubmitEnd()
    }
    guard armed && !harness.injecting else { return }
    armed = false
    machine.ubd.disarm()
    for p in UbdControl.Point.allCases {
      let shim = machine.ubd.fired(p)
      let decided = harness.injector.fired.filter { $0.point == p.name }.map(\.hit)
      if shim.count != decided.count {
        harness.unjudged(
          Unjudged(
            .placement, moment: "\(p.name) after the plan",
            "the disk shim fired \(p.name) \(shim.count) time(s) (at \(shim.numbers)), the injector decided \(decided): a fault fired outside the plan's operations"
          ))
      }
    }
  }

  /// The disk's hits since the last call, through the injector; checks the shim fired exactly
  /// the hits the injector decided. Returns the hits that fired.
  private func collectHits() -> [Hit] {
    guard armed && harness.injecting else { return [] }
    var fired: [Hit] = []
    for p in UbdControl.Point.allCases {
      guard let id = harness.injector.catalog.index(of: p.name) else { continue }
      let got = harness.farHits(FaultPointID(id), total: machine.ubd.hits(p))
      fired += got
      let shim = machine.ubd.fired(p)
      let decided = harness.injector.fired.filter { $0.point == p.name }.map(\.hit)
      if shim.count != decided.count || !decided.starts(with: shim.numbers.prefix(decided.count)) {
        harness.unjudged(
          Unjudged(
            .placement, moment: "\(p.name) hits",
            "the disk shim fired \(p.name) at \(shim.numbers) (\(shim.count) in all), the injector decided \(decided)"))
      }
    }
    firedSoFar += fired.count
    return fired
  }

  // MARK: What the kernel said

  @discardableResult
  func collectKernelLog(seconds: Double = LinuxMachine.querySeconds) throws -> [KernelMessage] {
    let lostBefore = machine.logLost
    let new = try machine.drainKernelLog(seconds: seconds)
    if machine.logLost > lostBefore {
      harness.unjudged(
        Unjudged(
          .engineError, moment: "the kernel log",
          "\(machine.logLost - lostBefore) kernel message(s) were overwritten before they were read: a report among them would go unseen"
        ))
    }
    // What fail-nth failed, as the kernel said it (verbose 1: which allocator, no stack).
    for m in new where m.text.hasPrefix("FAULT_INJECTION: forcing a failure") {
      harness.trace.append(.note("kernel: \(m.text.replacingOccurrences(of: "\\x0a", with: " "))"))
    }
    // An XFS errortag that fired, where (it explains the filesystem's error reports after it).
    for m in new where m.text.contains("Injecting ") && m.text.contains(" at file ") {
      harness.trace.append(.note("kernel: \(m.text)"))
      firedSoFar += 1
    }
    for r in KernelReport.reports(in: new) {
      let text = r.lines.joined(separator: "\n")
      // The engine scans for leaks itself and reads kmemleak's full report (with backtraces):
      // the log's one-line count of a scan it asked for is no report of its own.
      if r.kind == .kmemleak && setupConfig.kmemleak {
        harness.trace.append(.note("kernel: \(r.lines[0])"))
        continue
      }
      if r.kind.isKernelCheck {
        reports.append(
          AssertionRecord(rule: LinuxModel.invariant(for: r.kind).rawValue, detail: "\(r.kind.rawValue): \(text)"))
        // Lockdep reports once and then turns itself off (debug_locks_off) for the rest of the
        // boot: this machine cannot judge locks for another scenario.
        if r.kind == .lockdep { lockdepSpent = true }
      } else if r.kind == .fsError {
        let rule = firedSoFar > 0 ? LinuxModel.fsErrorsReported : LinuxModel.fsErrorExplained
        reports.append(AssertionRecord(rule: rule.rawValue, detail: text))
      }
      harness.trace.append(.note("kernel: \(r.kind.rawValue): \(r.lines[0])"))
    }
    return new
  }

  /// Kernel reports seen after the snapshot at rest (recovery, fsck) as findings: those before
  /// it are in the snapshot's assertions already.
  private func reportFindings() -> [Finding] {
    let judged: Set<String> = [
      LinuxModel.kernelClean.rawValue, LinuxModel.fsErrorExplained.rawValue, InvariantName.locksReleased.rawValue,
      InvariantName.noHang.rawValue,
    ]
    return reports[min(reportsInSnapshot, reports.count)...].filter { judged.contains($0.rule) }
      .map { a in
        let lines = a.detail.split(separator: "\n").map(String.init)
        return Finding(
          invariant: InvariantName(rawValue: a.rule), message: lines.first ?? "", evidence: Array(lines.dropFirst()))
      }
  }

  private func note(_ path: String) { if !known.contains(path) { known.append(path) } }

  private func trackSync(_ op: FaultKit.Operation, ok: Bool) {
    switch op.kind {
    case .fsync: if ok { synced.insert(op.path) } else { synced.remove(op.path) }
    case .write, .append, .mmapWrite, .pageMkwrite, .dioWrite, .punch, .truncate, .fallocate, .zeroRange:
      synced.remove(op.path)
    default: break
    }
  }

  /// Pages of the page cache (cachestat) that must not be so at rest: under writeback with the
  /// disk idle (the agent waited for completions), or dirty in a file whose last data operation
  /// was a successful fsync. `PagesSettled` judges them at rest only.
  private func pagesUnsettled(_ s: Snapshot) -> [AssertionRecord] {
    var out: [AssertionRecord] = []
    for f in Set(s.pages.map(\.file)).sorted() {
      let pages = s.pages.filter { $0.file == f }
      let writeback = pages.filter { $0.flags.contains(.writeback) }.map(\.index)
      if !writeback.isEmpty {
        out.append(
          AssertionRecord(
            rule: LinuxModel.pagesSettled.rawValue,
            detail: "\(f): \(PageList(writeback)) under writeback with the disk idle: its writeback never ended"))
      }
      let dirty = pages.filter { $0.flags.contains(.dirty) }.map(\.index)
      if synced.contains(f) && !dirty.isEmpty {
        out.append(
          AssertionRecord(
            rule: LinuxModel.pagesSettled.rawValue,
            detail: "\(f): \(PageList(dirty)) dirty after fsync returned success"))
      }
    }
    return out
  }

  /// Delalloc the kernel still reports over a file whose last data operation was a successful
  /// fsync: fsync returned with data not on disk.
  private func delallocAfterFsync(_ s: Snapshot) -> [AssertionRecord] {
    s.extents.filter { $0.source == .delalloc && synced.contains($0.file) }.map {
      AssertionRecord(
        rule: LinuxModel.delallocFlushed.rawValue,
        detail: "\($0.file) \($0.range) is still delalloc after fsync returned success")
    }
  }
}

/// Page indexes as a reader takes them in: `page 3`, `pages 0-15`, `pages 0-3, 8`.
struct PageList: CustomStringConvertible {
  let indexes: [UInt64]
  init(_ indexes: [UInt64]) { self.indexes = indexes.sorted() }
  var description: String {
    var runs: [String] = []
    var i = 0
    // Each pass consumes one run.
    while i < indexes.count {
      var j = i
      while j + 1 < indexes.count && indexes[j + 1] == indexes[j] + 1 { j += 1 }
      runs.append(i == j ? "\(indexes[i])" : "\(indexes[i])-\(indexes[j])")
      i = j + 1
    }
    return (indexes.count == 1 ? "page " : "pages ") + runs.joined(separator: ", ")
  }
}
