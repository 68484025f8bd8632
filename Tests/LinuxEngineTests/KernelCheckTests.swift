import FaultKit
import Testing

@testable import LinuxEngine

/// The kernel's own checks as invariants, without a kernel: which invariant a report breaks,
/// what the kernel said before the scenario is baseline, the page-cache lines, and pages-settled.
@Suite("linux: the kernel's reports and page state as invariants")
struct KernelCheckTests {
  static func messages(_ lines: [String]) -> [KernelMessage] {
    lines.enumerated().map { KernelMessage(seq: UInt64(100 + $0.offset), level: 4, text: $0.element) }
  }

  /// Lockdep's report of a task returning to user space with a lock held, as 6.12 prints it.
  static let heldReturning = [
    "================================================",
    "WARNING: lock held when returning to user space!",
    "6.12.57 #1 Not tainted",
    "------------------------------------------------",
    "fl-agent/31 is leaving the kernel with locks still held!",
    "1 lock held by fl-agent/31:",
    " #0: 0000000061d4e0b8 (&sb->s_type->i_mutex_key#14){+.+.}-{3:3}, at: btrfs_buffered_write+0x7f/0x6b0",
  ]
  static let hung = [
    "INFO: task fl-agent:40 blocked for more than 20 seconds.",
    "      Not tainted 6.12.57 #1",
    "task:fl-agent        state:D stack:0     pid:40    tgid:1     ppid:0      flags:0x00000000",
    "Call Trace:",
    " folio_wait_bit_common+0x1a2/0x3c0",
    " __filemap_fdatawait_range+0x8c/0x110",
  ]

  @Test("lockdep's reports break locks-released, the hung-task detector's no-hang, a WARN kernel-clean")
  func routing() {
    let reports = KernelReport.reports(
      in: Self.messages(Self.heldReturning + Self.hung + ["WARNING: CPU: 0 PID: 7 at fs/btrfs/inode.c:1 x"]))
    #expect(reports.map(\.kind) == [.lockdep, .hungTask, .warning])
    #expect(reports.map { LinuxModel.invariant(for: $0.kind) } == [.locksReleased, .noHang, LinuxModel.kernelClean])
    // The report keeps the kernel's excerpt: which lock, where it was taken, which task.
    #expect(reports[0].lines.contains { $0.contains("i_mutex_key") && $0.contains("btrfs_buffered_write") })
    #expect(reports[1].lines.contains { $0.contains("folio_wait_bit_common") })
  }

  @Test(
    "a report already in the baseline (the boot's suspicious RCU usage) is no finding; a new one is, with its excerpt")
  func baseline() throws {
    let locks = try #require(LinuxModel.own.first { $0.name == .locksReleased })
    let rcu = AssertionRecord(rule: "locks-released", detail: "lockdep: WARNING: suspicious RCU usage\nkernel/x.c:1")
    let held = AssertionRecord(
      rule: "locks-released", detail: "lockdep: " + Self.heldReturning[1...].joined(separator: "\n"))
    var base = Snapshot()
    base.assertions = [rcu]
    var now = base
    #expect(locks.check(Self.context(.atRest, base, now)).isEmpty)
    now.assertions = [rcu, held]
    let v = locks.check(Self.context(.atRest, base, now))
    #expect(v.count == 1)
    #expect(v.first?.message == "lockdep: WARNING: lock held when returning to user space!")
    #expect(v.first?.evidence.contains { $0.contains("i_mutex_key") } == true)
  }

  static func context(_ m: Moment, _ base: Snapshot, _ now: Snapshot) -> InvariantContext {
    InvariantContext(
      moment: m, baseline: base, current: now, diff: SnapshotDiff(from: base, to: now), tasks: [], stop: .quiescent)
  }

  @Test("cachestat's pages become page records; pages-settled judges only at rest")
  func pages() throws {
    let json = """
      {"statfs":{"bsize":4096,"blocks":1000,"bfree":900,"bavail":850,"files":10,"ffree":5},"files":[\
      {"path":"/a","size":16384,"blocks":32,"mode":33188,"extents":[],"cache":[4,3,1],"pages":[[0,1,0],[1,1,0],[2,1,0],[3,0,1]]}]}
      """
    let s = try LinuxSnapshot.parse(Array(json.utf8))
    #expect(s.pages.map(\.name) == ["/a#0", "/a#1", "/a#2", "/a#3"])
    #expect(s.pages.map(\.flags) == [.dirty, .dirty, .dirty, .writeback])
    var now = s
    now.assertions = [
      AssertionRecord(rule: "pages-settled", detail: "/a: pages 0-2 dirty after fsync returned success")
    ]
    let inv = PagesSettled()
    let atRest = inv.check(Self.context(.atRest, Snapshot(), now))
    #expect(atRest.map(\.message) == ["/a: pages 0-2 dirty after fsync returned success"])
    #expect(atRest.first?.evidence.count == 4, "\(atRest.first?.evidence ?? [])")
    #expect(inv.check(Self.context(.afterFailedOp(task: "w", op: 1, opName: "write"), Snapshot(), now)).isEmpty)
    #expect("\(PageList([3, 0, 1, 2, 9]))" == "pages 0-3, 9")
    #expect("\(PageList([7]))" == "page 7")
  }
}
