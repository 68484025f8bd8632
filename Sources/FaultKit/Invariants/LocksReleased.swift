/// `locks-released`: no lock outlives the operation that took it.
public struct LocksReleased: Invariant {
  public init() {}
  public let name = InvariantName.locksReleased
  public let checks = """
    After a failed operation: the task holds no lock it took during that operation. At rest: every \
    lock not in the baseline is held by a task still inside the operation that took it (a blocked \
    task in a hang); a lock whose taker finished or moved on is leaked, and so is a lock that \
    names no holder while no work is queued on its file (nothing is left that could release it).
    """
  public let doesNotCheck = """
    Lock ordering and lock hold times; a holder-less lock right after a failed operation (no task \
    to blame yet) or at rest while work on its file is still queued (a queued item may release it; what keeps \
    the work from running is no-hang's finding); locks the engine does not report.
    """

  /// Whether a queued work line (`endio-write: finish /a [0, 16KiB)`, `fixup: fixup /a#2`)
  /// names `file` (or one of its pages) as a word.
  static func names(_ work: String, _ file: String) -> Bool {
    work.split(whereSeparator: { $0 == " " || $0 == ":" }).contains { $0 == file[...] || $0.hasPrefix(file + "#") }
  }

  public func check(_ c: InvariantContext) -> [Violation] {
    let baseline = Set(c.baseline.locks.map(\.resource))
    var leaked: [(LockRecord, String)] = []
    for lock in c.current.locks where !baseline.contains(lock.resource) {
      switch c.moment {
      case .afterFailedOp(let task, let op, let opName, _):
        if lock.holders.contains(where: { $0.task == task && $0.op == op }) {
          leaked.append((lock, "\(task) returned from \(opName) #\(op) still holding it"))
        }
      case .atRest:
        if lock.holders.isEmpty {
          // Queued work may release it only if it is work on the lock's file (a page lock
          // `/a#2`, a range or inode lock `/a`): other work queued elsewhere excuses nothing.
          let file = lock.object.split(separator: "#", maxSplits: 1).first.map(String.init) ?? lock.object
          if !c.current.pendingWork.contains(where: { Self.names($0, file) }) {
            leaked.append((lock, "held by nobody, and no work is queued on \(file)"))
          }
          continue
        }
        for h in lock.holders {
          guard let t = c.task(h.task) else {
            leaked.append((lock, "taken by \(h), which is no task of this scenario"))
            continue
          }
          if t.finished {
            leaked.append((lock, "taken by \(h), and \(h.task) has finished"))
          } else if t.inOp != h.op {
            leaked.append((lock, "taken by \(h), which returned"))
          }
        }
      }
    }
    // One violation per reason, listing its locks: three leaked pages are one finding.
    var byReason: [(String, [LockRecord])] = []
    for (lock, why) in leaked {
      if let i = byReason.firstIndex(where: { $0.0 == why }) {
        byReason[i].1.append(lock)
      } else {
        byReason.append((why, [lock]))
      }
    }
    return byReason.map { why, locks in
      let what =
        locks.count == 1 ? locks[0].resource : "\(locks.count) locks (\(locks.map(\.resource).joined(separator: ", ")))"
      return Violation(
        name, moment: c.moment, "\(what) leaked: \(why)",
        evidence: locks.flatMap { c.diff.lines(about: $0.resource) })
    }
  }
}

/// `no-hang`: every plan task finishes.
public struct NoHang: Invariant {
  public init() {}
  public let name = InvariantName.noHang
  public let checks = """
    At rest: every plan task finished. When no task can run and some has not finished, reports the \
    wait-for graph: who waits on what, and who holds that, and what the holder is doing. A scenario \
    that passes its step bound is reported here as unbounded.
    """
  public let doesNotCheck = "Real-time stalls (there is no clock) and fairness between runnable tasks."

  public func check(_ c: InvariantContext) -> [Violation] {
    guard c.moment.isAtRest, let stop = c.stop else { return [] }
    switch stop {
    case .quiescent: return []
    case .stepBound(let n):
      let running = c.tasks.filter { !$0.finished && $0.kind != .worker }.map(\.name)
      return [
        Violation(
          name, moment: c.moment,
          "stopped at the step bound (\(n) schedule points) with \(running.joined(separator: ", ")) unfinished: unbounded loop or livelock",
          evidence: WaitForGraph(c).lines)
      ]
    case .hang:
      let hung = c.tasks.filter { !$0.finished && $0.kind != .worker && $0.blockedOn != nil }
      let who = hung.map { "\($0.name) in \($0.opName) #\($0.inOp ?? 0)" }.joined(separator: ", ")
      return [
        Violation(
          name, moment: c.moment, "hang: \(who) blocked with no possible waker", evidence: WaitForGraph(c).lines)
      ]
    }
  }
}

/// Who waits on what, held by whom, doing what: the picture of a hang.
public struct WaitForGraph {
  public let lines: [String]

  public init(_ c: InvariantContext) {
    var out: [String] = []
    for t in c.tasks where !t.finished {
      guard let on = t.blockedOn else { continue }
      out.append("\(t.name) (in \(t.opName) #\(t.inOp ?? 0)) waits on \(on)")
      let locks = c.current.locks.filter { $0.resource == on }
      if locks.isEmpty {
        let work =
          c.current.pendingWork.isEmpty
          ? "no work is queued that could complete it" : "queued work: \(c.current.pendingWork.joined(separator: "; "))"
        out.append("  \(on) has no lock holder; \(work)")
      }
      for l in locks {
        if l.holders.isEmpty { out.append("  \(on) is held by nobody: nothing will release it") }
        for h in l.holders {
          let state: String
          if let ht = c.task(h.task) {
            if ht.finished {
              state = "\(h.task) has finished: nothing will release it"
            } else if ht.inOp != h.op {
              state =
                "\(h.task) returned from \(h.opName) #\(h.op) without releasing it"
                + (ht.name == t.name ? " (self-deadlock)" : "")
            } else if ht.name == t.name {
              state = "\(h.task) waits on a lock it holds itself (self-deadlock)"
            } else if let b = ht.blockedOn {
              state = "\(h.task) is itself blocked on \(b)"
            } else {
              state = "\(h.task) is runnable"
            }
          } else {
            state = "\(h.task) is unknown"
          }
          out.append("  \(on) is held by \(h): \(state)")
        }
      }
    }
    for t in c.tasks where !t.finished && t.idle { out.append("\(t.name) (worker): idle, no work queued") }
    lines = out
  }
}
