/// One kernel log record, as /dev/kmsg gave it: sequence number, level, text (no timestamp).
struct KernelMessage: Sendable, Hashable {
  let seq: UInt64
  let level: Int
  let text: String

  /// The agent's `kmsg` answer: `SEQ LEVEL TEXT` a line, continuation lines (` KEY=value`) dropped.
  static func parse(_ out: String) -> [KernelMessage] {
    var msgs: [KernelMessage] = []
    for line in out.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix(" ") {
      let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3, let seq = UInt64(parts[0]), let level = Int(parts[1]) else { continue }
      msgs.append(KernelMessage(seq: seq, level: level, text: String(parts[2])))
    }
    return msgs
  }
}

/// What the kernel reported, in classes a filesystem developer triages by: the kernel's own
/// checks (WARN, BUG, Oops, lockdep, KASAN, kmemleak, hung tasks) and the filesystems' error
/// reports (EXT4-fs error, a BTRFS transaction abort, an XFS shutdown or corruption report).
struct KernelReport: Sendable, Hashable {
  enum Kind: String, Sendable, Hashable, CaseIterable {
    case warning, bug, oops, lockdep, kasan, kmemleak
    case hungTask = "hung-task"
    /// The filesystem said its metadata or journal failed (after an injected I/O error, what it
    /// must do; with no fault, corruption it found).
    case fsError = "fs-error"
    /// The block layer's I/O errors (expected after an injected disk fault).
    case ioError = "io-error"

    /// The kernel's own checks: a report is a bug whatever fault came before.
    var isKernelCheck: Bool { self != .fsError && self != .ioError }
  }

  let kind: Kind
  /// The first line (what the report is about) and the lines of its body, at most `bodyLines`.
  let lines: [String]
  let seq: UInt64

  static let bodyLines = 40

  /// The class of a message that starts a report, if it starts one.
  static func kind(of text: String) -> Kind? {
    func has(_ s: String) -> Bool { text.contains(s) }
    if has("possible circular locking dependency") || has("possible recursive locking")
      || has("lock held when returning to user space") || has("suspicious RCU usage")
      || has("bad unlock balance") || has("inconsistent lock state") || has("possible irq lock inversion")
      || has("held lock freed") || has("lock held at task exit")
    {
      return .lockdep
    }
    if has("BUG: KASAN") { return .kasan }
    if text.hasPrefix("kmemleak:") && has("new suspected memory leak") { return .kmemleak }
    if has("blocked for more than") && has("INFO: task") { return .hungTask }
    if text.hasPrefix("WARNING:") || has("XFS: Assertion failed") || has("BTRFS: assertion failed") {
      return .warning
    }
    if has("kernel BUG at") || text.hasPrefix("BUG:") { return .bug }
    if text.hasPrefix("Oops") || has("general protection fault") || text.hasPrefix("Kernel panic") { return .oops }
    if has("EXT4-fs error") || (has("EXT4-fs") && (has("Remounting filesystem read-only") || has("Aborting journal")))
      || (text.hasPrefix("BTRFS") && (has("error") || has("critical") || has("Transaction aborted")))
      || (text.hasPrefix("XFS") && (has("Corruption") || has("corruption") || has("hut down") || has("Shutting down")))
    {
      return .fsError
    }
    if has("I/O error, dev") || has("Buffer I/O error on dev") || has("I/O error on dev") { return .ioError }
    return nil
  }

  /// The reports among `msgs`: each from its first message, with the messages after it that are
  /// its body (a WARN's registers and call trace) up to the next report or `bodyLines`.
  static func reports(in msgs: some Collection<KernelMessage>) -> [KernelReport] {
    var out: [KernelReport] = []
    var current: (Kind, [String], UInt64)?
    for m in msgs {
      if let k = kind(of: m.text) {
        // A `cut here` line just before a WARN belongs to it, not to a report of its own.
        if let c = current { out.append(KernelReport(kind: c.0, lines: c.1, seq: c.2)) }
        current = (k, [m.text], m.seq)
        continue
      }
      guard var c = current else { continue }
      if m.text.hasPrefix("---[ end trace") || c.1.count >= bodyLines {
        out.append(KernelReport(kind: c.0, lines: c.1, seq: c.2))
        current = nil
        continue
      }
      // Block-layer and filesystem chatter ends a report of those kinds after its first line.
      if !c.0.isKernelCheck {
        out.append(KernelReport(kind: c.0, lines: c.1, seq: c.2))
        current = nil
        continue
      }
      c.1.append(m.text)
      current = c
    }
    if let c = current { out.append(KernelReport(kind: c.0, lines: c.1, seq: c.2)) }
    return out
  }
}
