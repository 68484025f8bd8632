import FaultKit
import Foundation

/// What the engine reads of the guest at rest beyond the kernel log: the page frames left locked
/// or under writeback (/proc/kpageflags), the locks the plan's tasks still hold (lockdep's list),
/// and kmemleak's scan.
extension LinuxEngine {
  /// The guest's page frames locked or under writeback at rest (/proc/kpageflags); the first
  /// call of a scenario is its baseline. A kernel without /proc/kpageflags (PROC_PAGE_MONITOR)
  /// gives none.
  func pageFrames() throws -> PageFrames {
    let r: GuestReply
    do {
      r = try machine.query("pageflags", seconds: 60)
    } catch {
      throw UnreadableState(.snapshot, "page flags query: \(error)")
    }
    if r.rc == ENOENT { return PageFrames() }
    guard r.rc == 0, let json = r.bytes("out") else {
      throw UnreadableState(.snapshot, "reading /proc/kpageflags failed: \(Errno(rawValue: r.rc).name)")
    }
    let frames = try PageFrames.parse(json)
    framesLocked = Set(frames.lockedFrames.map(\.pfn))
    if framesAtBaseline == nil { framesAtBaseline = framesLocked }
    return frames
  }

  /// Locks the plan's tasks hold at rest, after their operations returned to user space: lockdep's
  /// list of every held lock (SysRq d), read from the kernel log. UML has no check at the return
  /// to user space itself (lockdep_sys_exit is called by the generic entry code, which UML does
  /// not use), so this is where a lock an operation kept is seen when nothing else took a lock
  /// against it.
  func heldLocksFindings() throws -> [Finding] {
    let r: GuestReply
    do {
      r = try machine.query("heldlocks")
    } catch {
      throw UnreadableState(.verify, "listing held locks: \(error)")
    }
    guard r.rc == 0, let tasks = r.fields["tasks"] else {
      // A kernel without SysRq or lockdep: nothing to read (locks-released says so).
      return []
    }
    let tids = Set(tasks.split(separator: ",").map(String.init))
    let found = HeldLocks.findings(in: try collectKernelLog(), tasks: tids)
    // The lock stays held: the next scenario on this machine would wait on it.
    if !found.isEmpty { machine.state = .broken("a task held a lock at rest") }
    return found
  }

  /// kmemleak's scan at rest: each object allocated during the scenario that nothing references.
  /// A scan that fails is said as unjudged, not as a clean result.
  func kmemleakFindings() throws -> [Finding] {
    let r: GuestReply
    do {
      r = try machine.query("kmemleak", [("mode", "check")], seconds: 300)
    } catch {
      throw UnreadableState(.verify, "kmemleak scan: \(error)")
    }
    guard r.rc == 0, let text = r.fields["out"] == nil ? "" : r.text("out") else {
      harness.unjudged(
        Unjudged(.verify, moment: "kmemleak", "kmemleak's scan at rest failed: \(Errno(rawValue: r.rc).name)"))
      return []
    }
    try collectKernelLog()
    return KmemleakReport.findings(text)
  }
}
