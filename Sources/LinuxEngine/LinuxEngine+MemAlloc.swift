import FaultKit
import Foundation

extension LinuxEngine {
  // MARK: mem.alloc: the kernel's fail-nth

  static let memAlloc = "mem.alloc"

  func sayOnce(_ key: String, _ why: String) {
    guard memAllocSaid.insert(key).inserted else { return }
    harness.unjudged(Unjudged(.placement, moment: "arming \(Self.memAlloc)", why))
  }

  /// What the operation about to be sent asks of the guest for `mem.alloc`: nil (nothing: not
  /// injecting, or a kernel without fail-nth), 0 (count its allocations), K (also fail its Kth).
  /// Hits are numbered per scenario in the order operations return; the plan's `nth: N` fires in
  /// the operation that reaches hit N, as the guest's Nth-from-now of that operation. While
  /// another counted operation is still in the guest, where hit N falls is not known: said so.
  func memAllocRequest() -> Int? {
    guard harness.injecting, let pid = harness.injector.catalog.index(of: Self.memAlloc) else { return nil }
    let specs = harness.farFaults(FaultPointID(pid))
    guard setupConfig.failNth else {
      if !specs.isEmpty {
        sayOnce(
          "not-asked",
          "\(Self.memAlloc) is counted only in plans whose setup says fail-nth: true (allocation counts follow the kernel's timing, so they stay out of other plans' traces)"
        )
      }
      return nil
    }
    guard machine.failNth else {
      if !specs.isEmpty {
        sayOnce(
          "no-fail-nth",
          "this kernel has no fail-nth with failslab and fail_page_alloc in debugfs (CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS): \(Self.memAlloc) cannot be counted or fired"
        )
      }
      return nil
    }
    // A bio the counting thread submits to a disk armed for io.submit is counted by its fail-nth
    // too (should_fail_ex takes fail-nth first): those scenarios do not count allocations.
    guard submit.nth == 0 else {
      if !specs.isEmpty {
        sayOnce(
          "io.submit",
          "\(Self.memAlloc) is not counted while io.submit is armed: fail-nth would count (and could fail) the bios the operation's own task submits"
        )
      }
      return nil
    }
    let task = harness.scheduler.currentName
    let op = harness.scheduler.currentOp
    var ask = 0
    for f in specs {
      guard case .nth(let n) = f.trigger, f.mode == .transient else {
        sayOnce(
          "trigger \(f)",
          "the kernel's fail-nth fails one chosen allocation of an operation: \(f) cannot be fired there (nth only, transient)"
        )
        continue
      }
      if let t = f.task, t != task { continue }
      if let o = f.op, o != op { continue }
      let matched = harness.injector.hits.reduce(0) { k, h in
        k
          + (h.point == Self.memAlloc && (f.task.map { $0 == h.task } ?? true) && (f.op.map { $0 == h.op } ?? true)
            ? 1 : 0)
      }
      guard n > matched else { continue }
      if counting > 0 {
        sayOnce(
          "concurrent \(f)",
          "\(f) cannot be placed exactly: another operation whose allocations are counted was still in the guest when \(task)'s \(op) started, and which of them reaches hit \(n) first is the guest's scheduling"
        )
        continue
      }
      ask = ask == 0 ? n - matched : min(ask, n - matched)
    }
    return ask
  }

  /// The operation's allocations as the guest counted them, through the injector; checks the
  /// kernel failed one exactly when the injector decided one fires. Returns the hits that fired.
  func memAllocHits(_ reply: GuestReply, asked: Int) -> [Hit] {
    guard let pid = harness.injector.catalog.index(of: Self.memAlloc) else { return [] }
    guard let text = reply.fields["allocs"], let allocs = Int(text), allocs >= 0 else {
      sayOnce(
        "uncounted",
        "the guest could not count an operation's allocations (fail-nth unreadable): \(Self.memAlloc) hits are missing")
      return []
    }
    let failed = reply.fields["failed"] == "1"
    let point = FaultPointID(pid)
    let fired = harness.farHits(point, total: harness.injector.count(point) + allocs)
    // A failed allocation explains the filesystem's error reports after it, as a disk fault does.
    firedSoFar += fired.count
    if failed != !fired.isEmpty || (failed && allocs != asked) {
      let decided = fired.map { "#\($0.hit)" }.joined(separator: ", ")
      harness.unjudged(
        Unjudged(
          .placement, moment: "\(Self.memAlloc) hits",
          "the kernel \(failed ? "failed allocation \(allocs) of \(harness.scheduler.currentOp)" : "failed no allocation of \(harness.scheduler.currentOp)") (asked: \(asked == 0 ? "count only" : "fail the \(asked)th")), the injector decided \(decided.isEmpty ? "none fires" : decided)"
        ))
    }
    return fired
  }
}
