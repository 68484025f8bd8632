import FaultKit
import FaultlineEngines
import Foundation
import Testing

@testable import LinuxEngine

/// The kernel's evidence read into findings without a kernel: /proc/kpageflags frames
/// (pages-unlocked, pages-settled), kmemleak's report (no-leak), lockdep's list of held locks
/// (locks-released); and the setup keys and operation that load and poke a module.
@Suite("linux: page frames, kmemleak and held locks as evidence; modules, kmemleak and control in plans")
struct KernelEvidenceTests {
  static func context(_ m: Moment, _ base: Snapshot, _ now: Snapshot) -> InvariantContext {
    InvariantContext(
      moment: m, baseline: base, current: now, diff: SnapshotDiff(from: base, to: now), tasks: [], stop: .quiescent)
  }

  @Test("a frame locked at rest that was not at the baseline breaks pages-unlocked; one under writeback pages-settled")
  func frames() throws {
    let base = try PageFrames.parse(Array(#"{"frames":1000,"pages":[[7,1]]}"#.utf8))
    // Frame 7 stays locked (its flags change: not a new finding), 42 is newly locked, 43 under writeback.
    let now = try PageFrames.parse(
      Array(#"{"frames":1000,"pages":[[7,37],[42,41],[43,296]]}"#.utf8))
    #expect(now.lockedFrames.map(\.pfn) == [7, 42])
    #expect(now.writebackFrames.map(\.pfn) == [43])
    #expect(PageFrames.describe(41) == "locked, uptodate, lru")
    #expect(PageFrames.describe(1 << 50 | 1 << 34 | 1) == "locked, owner-2, other 0x4000000000000")
    var b = Snapshot()
    b.assertions = base.assertions
    var n = Snapshot()
    n.assertions = now.assertions
    let v = PagesUnlocked().check(Self.context(.atRest, b, n))
    #expect(
      v.map(\.message) == [
        "page frame 42 is locked at rest (/proc/kpageflags; whose page it is cannot be read without waiting on its lock)"
      ])
    #expect(v.first?.evidence == ["flags: locked, uptodate, lru"])
    // Only at rest: while the plan runs, pages are locked for every operation in flight.
    #expect(
      PagesUnlocked().check(Self.context(.afterFailedOp(task: "t", op: 1, opName: "write", succeeded: false), b, n))
        .isEmpty)
    let settled = PagesSettled().check(Self.context(.atRest, b, n))
    #expect(
      settled.map(\.message) == [
        "page frame 43 is under writeback with the disk idle (/proc/kpageflags): its writeback never ended"
      ])
    #expect(settled.first?.evidence == ["flags: uptodate, lru, writeback"])
  }

  @Test("JSON that is not the agent's is unreadable, not an empty reading")
  func framesGarbage() {
    #expect(throws: UnreadableState.self) { try PageFrames.parse(Array("{\"frames\":".utf8)) }
  }

  /// kmemleak's report of the planted leak, as 6.12 prints it in /sys/kernel/debug/kmemleak.
  static let kmemleak = """
    unreferenced object 0x00000000a1b2c3d4 (size 256):
      comm "fl-agent", pid 35, jiffies 4294938620
      hex dump (first 32 bytes):
        6e 6f 20 6e 75 6d 62 65 72 20 68 65 72 65 00 00  no number here..
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
      backtrace (crc 5a6c2b1f):
        [<00000000deadbeef>] __kmalloc_cache_noprof+0x193/0x1cb
        [<00000000deadbef0>] leak_write+0xa3/0x129 [fl_planted]
        [<00000000deadbef1>] vfs_write+0xb4/0x117
    unreferenced object 0x00000000a1b2c3e4 (size 64):
      comm "kworker/0:1", pid 12, jiffies 4294938621
      backtrace (crc 1):
        kmalloc_trace+0x1/0x2
    """

  @Test("each unreferenced object is a no-leak finding: size, task, bytes and backtrace; no addresses, pids or jiffies")
  func leaks() {
    let f = KmemleakReport.findings(Self.kmemleak)
    #expect(f.count == 2)
    #expect(f.allSatisfy { $0.invariant == LinuxModel.noLeak })
    #expect(
      f.first?.message
        == "kmemleak: an object of 256 bytes allocated during the scenario (by fl-agent) is unreferenced: leaked")
    #expect(f.first?.evidence.contains("  leak_write+0xa3/0x129 [fl_planted]") == true, "\(f)")
    #expect(f.first?.evidence.contains { $0.contains("no number here") } == true)
    let all = f.flatMap { [$0.message] + $0.evidence }.joined(separator: "\n")
    #expect(!all.contains("0x00000000a1b2") && !all.contains("pid 35") && !all.contains("jiffies"), "\(all)")
    #expect(f.last?.message.contains("64 bytes") == true && f.last?.message.contains("kworker/0:1") == true)
    #expect(KmemleakReport.findings("").isEmpty)
    // The agent reads the report in rounds: an object listed in several is one finding.
    #expect(KmemleakReport.findings(Self.kmemleak + "\n" + Self.kmemleak) == f)
  }

  @Test(
    "a plan task's thread holding a lock at rest is locks-released's, naming the lock, where and who; other threads are not"
  )
  func heldLocks() {
    let lines = [
      "sysrq: Show Locks Held",
      "",
      "Showing all locks held in the system:",
      "1 lock held by khungtaskd/17:",
      " #0: 0000000060a1b2c3 (rcu_read_lock){....}-{1:2}, at: debug_show_all_locks+0x1e/0x1b1",
      "2 locks held by fl-agent/1:",
      " #0: 00000000aa000001 (&tty->ldisc_sem){++++}-{0:0}, at: ldsem_down_read+0x3c/0x41",
      "1 lock held by fl-agent/35:",
      " #0: 00000000a380d060 (planted_lock){+.+.}-{3:3}, at: hold_mutex_write+0x8e/0xb4 [fl_planted]",
      "",
      "=============================================",
      "1 lock held by fl-agent/36:",
      " #0: 00000000a380d060 (other){+.+.}-{3:3}, at: x+0x1/0x2",
    ]
    let msgs = lines.enumerated().map { KernelMessage(seq: UInt64($0.offset), level: 4, text: $0.element) }
    let f = HeldLocks.findings(in: msgs, tasks: ["35", "36", "40"])
    #expect(f.count == 1, "\(f)")
    #expect(f.first?.invariant == .locksReleased)
    #expect(
      f.first?.message.hasPrefix("lock held when returning to user space: fl-agent/35 holds 1 lock at rest") == true)
    #expect(f.first?.evidence == ["#0: (planted_lock){+.+.}-{3:3}, at: hold_mutex_write+0x8e/0xb4 [fl_planted]"])
    #expect(HeldLocks.findings(in: Array(msgs.prefix(2)), tasks: ["35"]).isEmpty)
  }

  static func load(_ yaml: String) throws -> Plan {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-evidence-\(getpid())-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("p.yaml")
    try yaml.write(to: file, atomically: true, encoding: .utf8)
    return try PlanLoader(registry: FaultlineEngines.registry).load(file: file.path)
  }

  static func plan(setup: String, op: String) -> String {
    """
    plan: p
    engine: linux
    setup:
      fs: ext4
      files: [ { path: /a } ]
    \(setup)
    tasks:
      - name: t
        ops:
          - \(op)
    """
  }

  static func error(_ yaml: String) -> String {
    do {
      _ = try load(yaml)
      return "loaded"
    } catch {
      return "\(error)"
    }
  }

  @Test("modules, kmemleak and control: bad input is an error at its line and column")
  func badInput() throws {
    let fsync = "fsync: { path: /a }"
    let missing = Self.error(Self.plan(setup: "  modules: [ /no/such/module.ko ]", op: fsync))
    #expect(
      missing.contains(
        ":6:14: error: setup.modules[0]: expected the absolute path of a kernel module file (.ko) that exists"),
      "\(missing)")
    let notKo = Self.error(Self.plan(setup: "  modules: [ /etc/hostname ]", op: fsync))
    #expect(notKo.contains("setup.modules[0]") && notKo.contains("'/etc/hostname'"), "\(notKo)")
    let notList = Self.error(Self.plan(setup: "  modules: /x.ko", op: fsync))
    #expect(notList.contains("setup.modules"), "\(notList)")
    let kmem = Self.error(Self.plan(setup: "  kmemleak: maybe", op: fsync))
    #expect(kmem.contains(":6:13:") && kmem.contains("setup.kmemleak"), "\(kmem)")
    let control = Self.error(Self.plan(setup: "", op: "control: { path: /a, value: x }"))
    #expect(
      control.contains(
        ":10:26: error: tasks[0].ops[0].control.path: expected a kernel control file under /proc/ or /sys/"),
      "\(control)")
    let noValue = Self.error(Self.plan(setup: "", op: "control: { path: /sys/kernel/debug/x }"))
    #expect(noValue.contains("control.value") || noValue.contains("'value'"), "\(noValue)")
    let up = Self.error(Self.plan(setup: "", op: "control: { path: /sys/../etc/passwd, value: x }"))
    #expect(up.contains("control.path"), "\(up)")
  }

  @Test("kmemleak or modules on a kernel built without them: an error at the key, naming the option")
  func kernelLacks() throws {
    let dir = try LinuxKernelFeaturesTests.fakeKernel("lacks", config: ["CONFIG_EXT4_FS=y"])
    defer { try? FileManager.default.removeItem(at: dir) }
    let ko = dir.appendingPathComponent("m.ko").path
    #expect(FileManager.default.createFile(atPath: ko, contents: Data()))
    let kernel = "  kernel: \(dir.path)/linux\n"
    let fsync = "fsync: { path: /a }"
    let leak = Self.error(Self.plan(setup: kernel + "  kmemleak: true", op: fsync))
    #expect(leak.contains(":7:13: error: setup.kmemleak: expected an option kernel"), "\(leak)")
    #expect(leak.contains("no CONFIG_DEBUG_KMEMLEAK=y"), "\(leak)")
    let modules = Self.error(Self.plan(setup: kernel + "  modules: [ \(ko) ]", op: fsync))
    #expect(modules.contains(":7:12: error: setup.modules") && modules.contains("no CONFIG_MODULES=y"), "\(modules)")
  }

  @Test("a control op names no plan file; modules and kmemleak are part of the machine's identity")
  func identity() throws {
    let p = try Self.load(Self.plan(setup: "  kmemleak: true", op: "control: { path: /sys/kernel/debug/x, value: go }"))
    #expect(p.tasks[0].ops[0].kind == .control)
    #expect(p.tasks[0].ops[0].value == "go")
    let plain = try LinuxSetup(try PlanValue.parse("{ fs: ext4 }", file: "s"))
    let leaky = try LinuxSetup(try PlanValue.parse("{ fs: ext4, kmemleak: true }", file: "s"))
    let ko = FileManager.default.temporaryDirectory.appendingPathComponent("fl-evidence-\(getpid()).ko").path
    #expect(FileManager.default.createFile(atPath: ko, contents: Data()))
    defer { try? FileManager.default.removeItem(atPath: ko) }
    let module = try LinuxSetup(try PlanValue.parse("{ fs: ext4, modules: [ \(ko) ] }", file: "s"))
    #expect(module.modules == [ko])
    #expect(module != plain && module != leaky)
  }
}
