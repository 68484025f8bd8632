import CFaultlineSupport
import CLinuxSupport
import FaultKit
import Foundation

/// One User-Mode Linux machine: the kernel running as a host process (in a process group of its
/// own, killed with it, and with SIGKILL as its parent-death signal), the guest agent as its init,
/// a disk (a sparse host file behind the disk shim) made into the plan's filesystem once, and kept
/// at that golden point: each scenario starts from it and is rolled back to it by the undo log, so
/// one boot serves many scenarios. The guest's root is the host's filesystem, read-only; it has no
/// network. Everything of the machine (image, control block, undo log, console log) lives in one
/// directory that goes with it.
final class LinuxMachine: @unchecked Sendable {
  enum State: Equatable {
    /// The filesystem is at the golden point, unmounted.
    case golden
    /// A scenario ran: the disk must be rolled back before the next.
    case dirty
    /// Something went wrong the machine cannot be trusted after (a hung task, a silent agent, a
    /// kernel that oopsed): it is shut down rather than reused.
    case broken(String)
  }

  let kernel: LinuxKernel
  let setup: LinuxSetup
  let dir: URL
  let image: String
  let ubd: UbdControl
  let channel: GuestChannel
  /// The machine's keeper (fl_uml_spawn), which ends the machine's process group with it.
  let pid: pid_t
  /// `uname -r` of the guest.
  private(set) var release = "?"
  var state: State = .dirty
  /// Every kernel message since boot, and the index of the first one of the running scenario.
  private(set) var messages: [KernelMessage] = []
  /// Scenarios this boot served.
  var served = 0
  /// The guest's flushes reach the host (a fdatasync of the image): the kernel's ubd passes them.
  /// Without that nothing the guest makes durable can be told from what it only wrote, and power
  /// cuts cannot be judged (Kernel/patches/0001 fixes UML's ubd, which drops every flush).
  private(set) var flushesReachHost = false
  /// The kernel fails the Nth allocation of a task on request (`/proc/<pid>/task/<tid>/fail-nth`,
  /// with failslab and fail_page_alloc in debugfs): `mem.alloc` can be counted and fired.
  private(set) var failNth = false
  /// The kernel has fail_make_request with make-it-fail on the disk, and the block tracepoints
  /// that count its bios: `io.submit` can be counted and fired.
  private(set) var failMakeRequest = false

  /// The guest's device and where the plan's filesystem is mounted.
  static let device = "/dev/ubda"
  static let mountPoint = "/mnt"

  /// Timeouts, in seconds: generous, because CI machines are loaded and UML is slow under load.
  static let bootSeconds = 120.0
  static let querySeconds = 120.0

  /// Boots a machine for `setup` and makes its golden image.
  /// - Throws: `LinuxEngineError` when the machine cannot start or setup fails in the guest.
  init(kernel: LinuxKernel, setup: LinuxSetup) throws {
    self.kernel = kernel
    self.setup = setup
    LinuxMachine.sweepStaleDirectories()
    let base = FileManager.default.temporaryDirectory.path
    let made = base + "/faultline-uml-\(getpid())-\(LinuxMachine.counter.next())"
    try FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: false)
    dir = URL(fileURLWithPath: made)
    image = made + "/disk.img"
    guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(setup.deviceBytes)) == 0
    else { throw LinuxEngineError.io(image, errno) }
    ubd = try UbdControl(image: image, control: made + "/ubd.ctl", undo: made + "/ubd.undo")
    let (agent, shim) = try LinuxMachine.helpers()
    var toGuest: [Int32] = [0, 0]
    var fromGuest: [Int32] = [0, 0]
    fl_ignore_sigpipe()
    guard fl_pipe_cloexec(&toGuest) == 0, fl_pipe_cloexec(&fromGuest) == 0 else {
      throw LinuxEngineError.io("pipe", errno)
    }
    let log = open(made + "/console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard log >= 0 else { throw LinuxEngineError.io(made + "/console.log", errno) }
    let args =
      [
        kernel.path, "mem=\(setup.memoryBytes >> 20)M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro",
        "init=\(agent)", "ubd0=\(image)", "con=null", "ssl=null", "con1=fd:3,fd:4", "con0=null,fd:1",
        "hung_task_panic=0",
      ] + (setup.kmemleak ? ["kmemleak=on"] : [])
    let env = [
      "LD_PRELOAD=\(shim)", "FAULTLINE_UBD_IMAGE=\(image)", "FAULTLINE_UBD_CONTROL=\(ubd.controlPath)",
      "FAULTLINE_UBD_UNDO=\(ubd.undoPath)", "TMPDIR=\(made)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/",
    ]
    // From the spawn thread: the machine's parent-death signal follows the thread that forked it.
    let (path, to, from) = (kernel.path, toGuest[0], fromGuest[1])
    let spawned = SpawnThread.shared.run {
      withCStringArray(args) { argv in
        withCStringArray(env) { envp in fl_uml_spawn(path, argv, envp, to, from, log) }
      }
    }
    close(toGuest[0])
    close(fromGuest[1])
    close(log)
    guard spawned > 0 else {
      close(toGuest[1])
      close(fromGuest[0])
      throw LinuxEngineError.io(kernel.path, -spawned)
    }
    pid = spawned
    channel = GuestChannel(toGuest: toGuest[1], fromGuest: fromGuest[0])
    do {
      let ready = try channel.line("READY", deadline: Self.deadline(Self.bootSeconds))
      release = ready.fields["kernel"] ?? "?"
      guard ubd.attached else {
        throw LinuxEngineError.broken("the disk shim did not see UML open \(image): was it preloaded?")
      }
      // The disk's share of the dirty limit is its share of recent writeouts: on a fresh machine
      // that is about nothing, so background writeback started during a plan's first write there
      // and not on a machine that had written (two traces for one plan and seed). A floor of
      // half the limit holds it at the same place on every machine.
      try must("write", [("path", "/sys/block/ubda/bdi/min_ratio"), ("value", "50")])
      failNth = try configureFailNth()
      failMakeRequest = try hasFailMakeRequest()
      try loadModules()
      if setup.kmemleak { try startKmemleak() }
      try makeGolden()
    } catch {
      let console = consoleTail()
      shutdown()
      throw LinuxEngineError.broken("the machine did not come up (\(error)); its console said:\n\(console)")
    }
  }

  deinit { shutdown() }

  // MARK: Requests

  static func deadline(_ seconds: Double) -> UInt64 { DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9) }

  /// A query and its reply; a guest that does not answer leaves the machine broken.
  func query(_ cmd: String, _ args: [(String, String)] = [], seconds: Double = querySeconds) throws -> GuestReply {
    do {
      let id = try channel.send("Q", [("cmd", cmd)] + args)
      return try channel.reply(id, deadline: Self.deadline(seconds), what: "\(cmd)")
    } catch {
      state = .broken("\(error)")
      throw error
    }
  }

  /// A query that must succeed.
  @discardableResult
  func must(_ cmd: String, _ args: [(String, String)] = [], seconds: Double = querySeconds) throws -> GuestReply {
    let r = try query(cmd, args, seconds: seconds)
    guard r.rc == 0 else {
      throw LinuxEngineError.broken(
        "guest \(cmd) \(args.map { "\($0.0)=\($0.1)" }.joined(separator: " ")) failed: \(Errno(rawValue: r.rc).name)")
    }
    return r
  }

  /// Runs a host program in the guest (through the read-only root): its exit status and output.
  func run(_ argv: [String], seconds: Double = querySeconds) throws -> (status: String, output: String) {
    var args: [(String, String)] = argv.enumerated().map { ("arg\($0.offset)", $0.element) }
    args.append(("timeout", "\(Int(seconds))"))
    let r = try must("run", args, seconds: seconds + 30)
    return (r.fields["status"] ?? "?", r.text("out") ?? "")
  }

  /// Kernel messages that arrived since the last call, also kept in `messages`.
  @discardableResult
  func drainKernelLog(seconds: Double = querySeconds) throws -> [KernelMessage] {
    let r = try must("kmsg", seconds: seconds)
    guard let text = r.fields["out"] == nil ? "" : r.text("out") else {
      throw LinuxEngineError.broken("the kernel log the agent sent does not decode")
    }
    let new = KernelMessage.parse(text)
    // Sequence numbers are consecutive: a gap is messages the ring overwrote before a read.
    for m in new {
      if let last = lastSeq, m.seq > last + 1 { logLost += Int(m.seq - last - 1) }
      lastSeq = m.seq
    }
    messages += new
    return new
  }
  private var lastSeq: UInt64?
  /// Kernel messages overwritten before they were read, since boot.
  private(set) var logLost = 0

  /// The messages of the running scenario.
  var scenarioLog: [KernelMessage] { messages }

  /// A scenario starts: the messages kept so far (boot, earlier scenarios) are let go.
  func beginScenarioLog() { messages.removeAll(keepingCapacity: true) }

  // MARK: The filesystem

  /// The plan's filesystem is mounted.
  private(set) var mounted = false

  /// Mounts the filesystem; the errno when the kernel refuses (a recovery that fails).
  func tryMount() throws -> Int32 {
    let r = try query(
      "mount",
      [("src", Self.device), ("dir", Self.mountPoint), ("type", setup.fs.rawValue), ("opts", setup.mountOptions)])
    if r.rc == 0 { mounted = true }
    return r.rc
  }

  func mount() throws {
    let rc = try tryMount()
    guard rc == 0 else { throw LinuxEngineError.broken("mount \(setup.fs.rawValue): \(Errno(rawValue: rc).name)") }
  }

  /// Closes the tasks' files (they hold the filesystem busy) and unmounts.
  func umount() throws {
    try must("reset")
    try must("umount", [("dir", Self.mountPoint)])
    mounted = false
  }

  /// Drops the guest's cached blocks of the disk and every clean page (after the host changed the
  /// image under it).
  func forgetCaches() throws {
    try must("flushbufs", [("dev", Self.device)])
    try must("write", [("path", "/proc/sys/vm/drop_caches"), ("value", "3")])
  }

  /// mkfs, the setup's files and free-space shape, then unmounted: the golden point the undo log
  /// starts from.
  private func makeGolden() throws {
    let mk = try run(setup.fs.mkfs(setup.mkfsOptions, device: Self.device))
    guard mk.status == "0" else {
      throw LinuxEngineError.broken("mkfs.\(setup.fs.rawValue) exited \(mk.status): \(mk.output)")
    }
    try mount()
    for f in setup.files {
      try op(task: "setup", ["kind": "create", "path": f.path])
      if f.size > 0 {
        try op(task: "setup", ["kind": "write", "path": f.path, "offset": "0", "length": "\(f.size)", "pattern": "90"])
      }
    }
    try warmUp()
    if setup.fragmentRun != nil || setup.fillPercent != nil || setup.freeBytes != nil {
      var args = [("path", Self.mountPoint + "/.filler"), ("fill", "\(setup.fillPercent ?? 100)")]
      if let r = setup.fragmentRun { args.append(("run", "\(r)")) }
      if let f = setup.freeBytes { args.append(("free", "\(f)")) }
      try must("fragment", args, seconds: 600)
    }
    try must("sync")
    try umount()
    flushesReachHost = ubd.hits(.flush) > 0
    try forgetCaches()
    try drainKernelLog()
    ubd.disarmAndZero()
    ubd.recording = true
    state = .golden
  }

  /// Sets failslab and fail_page_alloc up so that a task's fail-nth counts (and may fail) every
  /// allocation that is allowed to fail: by default both skip allocations that may sleep to
  /// reclaim (GFP_KERNEL, most of a filesystem's), fail_page_alloc also highmem-capable ones
  /// (page cache pages) and single pages (min-order 1). __GFP_NOFAIL allocations are never
  /// counted (they cannot fail). Probability stays 0: nothing fails but what fail-nth picks.
  /// Verbose 1: one line per injected failure (`FAULT_INJECTION: forcing a failure. name
  /// failslab ...`), which names the allocator, without the stack dump of verbose 2, which would
  /// flood the kernel log and run into the body of any report it follows. False when the kernel
  /// has none of this (no fault-injection debugfs).
  private func configureFailNth() throws -> Bool {
    let knobs = [
      ("failslab/ignore-gfp-wait", "N"), ("failslab/verbose", "1"), ("fail_page_alloc/ignore-gfp-wait", "N"),
      ("fail_page_alloc/ignore-gfp-highmem", "N"), ("fail_page_alloc/min-order", "0"),
      ("fail_page_alloc/verbose", "1"),
    ]
    for (knob, value) in knobs {
      let r = try query("write", [("path", "/sys/kernel/debug/" + knob), ("value", value)])
      guard r.rc == 0 else { return false }
    }
    return true
  }

  /// Whether fail_make_request and the block tracepoints are there (`io.submit`).
  private func hasFailMakeRequest() throws -> Bool {
    let files = [
      "/sys/kernel/debug/fail_make_request/interval", "/sys/block/ubda/make-it-fail",
      "/sys/kernel/debug/tracing/events/block/block_bio_queue/enable",
      "/sys/kernel/debug/tracing/events/block/block_split/enable",
    ]
    for f in files where try query("read", [("path", f)]).rc != 0 { return false }
    return true
  }

  /// The setup's kernel modules, loaded in order (finit_module in the guest, from the host's path).
  /// - Throws: `LinuxEngineError` naming the module and why: a kernel without module support
  ///   (ENOSYS), a module built for another kernel (ENOEXEC, EINVAL), one already loaded (EEXIST).
  private func loadModules() throws {
    for path in setup.modules {
      let r = try query("module", [("path", path)])
      guard r.rc != 0 else { continue }
      let e = Errno(rawValue: r.rc)
      let why =
        r.rc == ENOSYS
        ? "this kernel has no module support (CONFIG_MODULES)"
        : r.rc == ENOEXEC || r.rc == EINVAL
          ? "\(e.name): built for another kernel? (scripts/build-test-modules builds against the kernel's own tree)"
          : e.name
      throw LinuxEngineError.broken("loading the module \(path): \(why)")
    }
  }

  /// kmemleak is on (the kernel was booted with kmemleak=on) and its scanning thread off: scans
  /// run when the engine asks, at rest, not every 10 minutes at a moment the load decides.
  /// - Throws: `LinuxEngineError` when the kernel has no kmemleak (CONFIG_DEBUG_KMEMLEAK) or it
  ///   turned itself off.
  private func startKmemleak() throws {
    let r = try query("kmemleak", [("mode", "off-thread")])
    guard r.rc == 0 else {
      throw LinuxEngineError.broken(
        "setup kmemleak: true, but /sys/kernel/debug/kmemleak refuses (\(Errno(rawValue: r.rc).name)): a kernel without CONFIG_DEBUG_KMEMLEAK, or kmemleak turned itself off"
      )
    }
  }

  /// Things the kernel sets up the first time after boot that a filesystem writes and syncs (and
  /// keeps across unmounts) are set up here, before the golden point: otherwise a machine's first
  /// scenario makes allocations its later ones do not (ext4's fsync: 28 on a fresh machine, 26
  /// after), and `mem.alloc` hits would be numbered differently on a fresh machine and a reused
  /// one. A scratch file is written, fsync'd, read and unlinked by a task of its own.
  private func warmUp() throws {
    let path = "/.faultline-warm"
    try op(task: "warm", ["kind": "create", "path": path])
    try op(task: "warm", ["kind": "write", "path": path, "offset": "0", "length": "65536", "pattern": "90"])
    try op(task: "warm", ["kind": "fsync", "path": path])
    try op(task: "warm", ["kind": "read", "path": path])
    try op(task: "warm", ["kind": "unlink", "path": path])
  }

  /// An operation outside a scenario (setup's files): must succeed.
  private func op(task: String, _ fields: [String: String]) throws {
    let id = try channel.send("OP", [("task", task)] + fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    let r = try channel.reply(id, deadline: Self.deadline(Self.querySeconds), what: "setup \(fields["kind"] ?? "")")
    guard r.rc == 0 else {
      throw LinuxEngineError.broken(
        "setup \(fields["kind"] ?? "") \(fields["path"] ?? ""): \(Errno(rawValue: r.rc).name)")
    }
  }

  /// Back to the golden point after a scenario: the tasks' files closed, the filesystem unmounted
  /// (writes dropped when `dropWrites`), the image rolled back, the guest's caches forgotten.
  func rollBackToGolden() throws {
    guard state != .golden else { return }
    if case .broken(let why) = state { throw LinuxEngineError.broken(why) }
    try must("reset")
    if mounted {
      let r = try query("umount", [("dir", Self.mountPoint)])
      guard r.rc == 0 else {
        state = .broken("the filesystem would not unmount after the scenario: \(Errno(rawValue: r.rc).name)")
        throw LinuxEngineError.broken("unmount after the scenario: \(Errno(rawValue: r.rc).name)")
      }
      mounted = false
    }
    ubd.disarmAndZero()
    ubd.dropWrites = false
    try ubd.rollBack(toFlush: false)
    try forgetCaches()
    state = .golden
  }

  /// A power cut: nothing the guest writes from now reaches the disk, the filesystem lets go (its
  /// cached state dies with it), and every write since the last flush that reached the host is
  /// undone. The filesystem is left unmounted; mounting it next is the recovery.
  func powerCut() throws {
    guard flushesReachHost else {
      throw LinuxEngineError.broken(
        "this kernel's ubd never passes a flush to the host (UML's ubd drops them; Kernel/patches/0001 fixes it): a power cut cannot tell durable writes from others"
      )
    }
    // The power goes first: nothing written from here on (a close's writeback, a commit timer)
    // reaches the disk.
    ubd.disarm()
    ubd.dropWrites = true
    _ = try must("reset", seconds: 30)
    let r = try query("umount", [("dir", Self.mountPoint)])
    ubd.dropWrites = false
    if r.rc == 0 { mounted = false }
    guard r.rc == 0 else {
      state = .broken("after the power cut the filesystem would not unmount: \(Errno(rawValue: r.rc).name)")
      throw LinuxEngineError.broken(
        "the filesystem would not let go after the power cut (\(Errno(rawValue: r.rc).name))")
    }
    try ubd.rollBack(toFlush: true)
    try forgetCaches()
  }

  // MARK: Lifetime

  /// Ends the machine and removes its directory. `pid` is the machine's keeper (fl_uml_spawn): a
  /// SIGTERM has it kill the machine's whole process group and reap it, then exit. Bounded: a
  /// keeper not gone in 5 s is killed (the machine then dies of its parent-death signal).
  func shutdown() {
    guard !stopped else { return }
    stopped = true
    // Its disk is deleted next: nothing of the guest needs to reach it, so no orderly power-off.
    kill(pid, SIGTERM)
    var status: Int32 = 0
    // Reaped here, so no zombie stays for the life of the process: 500 polls of 10 ms.
    var reaped = false
    for _ in 0..<500 where !reaped {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid || (r < 0 && errno != EINTR) { reaped = true } else { usleep(10_000) }
    }
    if !reaped {
      kill(pid, SIGKILL)
      for _ in 0..<100 where waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
    try? FileManager.default.removeItem(at: dir)
  }
  private var stopped = false

  /// The last lines of the guest console (what a kernel that died said).
  func consoleTail(lines: Int = 40) -> String {
    guard let text = try? String(contentsOf: dir.appendingPathComponent("console.log"), encoding: .utf8) else {
      return "(no console output)"
    }
    return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
  }

  /// Where the guest agent and the disk shim are: beside this executable (both are products of
  /// this package), or where FAULTLINE_AGENT and FAULTLINE_UBD_SHIM say.
  static func helpers() throws -> (agent: String, shim: String) {
    let env = ProcessInfo.processInfo.environment
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    var dirs = [exe.path]
    // Test bundles live one level below the build directory.
    if exe.path.hasSuffix(".xctest/Contents/MacOS") || exe.lastPathComponent.hasSuffix(".xctest") {
      dirs.append(exe.deletingLastPathComponent().path)
    }
    func find(_ env: String?, _ name: String) throws -> String {
      if let e = env, !e.isEmpty { return e }
      for d in dirs where FileManager.default.fileExists(atPath: d + "/" + name) { return d + "/" + name }
      throw LinuxEngineError.broken(
        "\(name) is not built beside \(exe.path): run swift build (it builds fl-agent and libFaultlineUbdShim.so)")
    }
    return (try find(env["FAULTLINE_AGENT"], "fl-agent"), try find(env["FAULTLINE_UBD_SHIM"], "libFaultlineUbdShim.so"))
  }

  /// Machine directories whose process is gone (a faultline that was killed): removed.
  static func sweepStaleDirectories() {
    let base = FileManager.default.temporaryDirectory.path
    for e in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where e.hasPrefix("faultline-uml-") {
      let parts = e.split(separator: "-")
      guard parts.count >= 4, let owner = Int32(parts[2]), owner != getpid() else { continue }
      if kill(owner, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: base + "/" + e) }
    }
  }

  static let counter = Counter()
}

/// A process-wide counter (machine directory names).
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var n = 0
  func next() -> Int {
    lock.lock()
    defer { lock.unlock() }
    n += 1
    return n
  }
}

/// Calls `body` with a NULL-terminated C array of C strings.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
  let dup = strings.map { strdup($0) }
  defer { for p in dup { free(p) } }
  let list = dup + [nil]
  return list.withUnsafeBufferPointer { body($0.baseAddress!) }
}
