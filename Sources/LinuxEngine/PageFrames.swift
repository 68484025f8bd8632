import FaultKit
import Foundation

/// The guest's page frames that stay locked or under writeback at rest, as the agent's
/// `pageflags` query read them from /proc/kpageflags (every frame of the guest's memory, 8 bytes
/// of flags each; a frame is reported only if it stayed so over 2 s of passes with the disk idle).
/// Which file a frame's page belongs to cannot be said from there: /proc/kpageflags has flags
/// only, and the way from a file to its frames (mapping it and reading pagemap) faults the page
/// in, which waits on a locked page for ever.
struct PageFrames: Sendable, Equatable {
  struct Frame: Sendable, Equatable {
    let pfn: UInt64
    let flags: UInt64
  }

  /// Frames the query read (the guest's memory, in pages).
  var frames: UInt64 = 0
  var pages: [Frame] = []
  /// More frames were flagged than the agent reports (256).
  var cut = false

  // Bits of /proc/kpageflags (include/uapi/linux/kernel-page-flags.h).
  static let locked: UInt64 = 1 << 0
  static let writeback: UInt64 = 1 << 8
  static let names: [(bit: Int, name: String)] = [
    (0, "locked"), (2, "referenced"), (3, "uptodate"), (4, "dirty"), (5, "lru"), (6, "active"), (7, "slab"),
    (8, "writeback"), (9, "reclaim"), (10, "buddy"), (11, "mmap"), (12, "anon"), (13, "swapcache"),
    (14, "swapbacked"), (15, "compound-head"), (16, "compound-tail"), (17, "huge"), (18, "unevictable"),
    (19, "hwpoison"), (20, "nopage"), (21, "ksm"), (22, "thp"), (23, "offline"), (24, "zero-page"), (25, "idle"),
    // Kernel-internal bits (include/linux/kernel-page-flags.h, 6.12): owner-2 is PG_owner_2
    // (PG_mappedtodisk for a filesystem's page).
    (26, "pgtable"), (32, "reserved"), (33, "mlocked"), (34, "owner-2"), (35, "private"), (36, "private-2"),
    (37, "owner-private"), (38, "arch"), (40, "softdirty"), (41, "arch-2"), (42, "arch-3"),
  ]

  /// The flags in words, lowest bit first: `locked, uptodate, lru`.
  static func describe(_ flags: UInt64) -> String {
    let known = names.filter { flags & (1 << UInt64($0.bit)) != 0 }.map(\.name)
    let rest = names.reduce(flags) { $0 & ~(1 << UInt64($1.bit)) }
    return (known + (rest != 0 ? ["other 0x" + String(rest, radix: 16)] : [])).joined(separator: ", ")
  }

  /// The agent's JSON: `{"frames":N,"pages":[[pfn,flags],…],"cut":true?}`.
  /// - Throws: `UnreadableState` when it is not that.
  static func parse(_ json: [UInt8]) throws -> PageFrames {
    struct Raw: Decodable {
      let frames: UInt64
      let pages: [[UInt64]]
      let cut: Bool?
    }
    guard let raw = try? JSONDecoder().decode(Raw.self, from: Data(json)) else {
      throw UnreadableState(.snapshot, "the guest's page flags are not the agent's JSON", rawBytes: json)
    }
    var out = PageFrames(frames: raw.frames, cut: raw.cut ?? false)
    for p in raw.pages where p.count == 2 { out.pages.append(Frame(pfn: p[0], flags: p[1])) }
    return out
  }

  var lockedFrames: [Frame] { pages.filter { $0.flags & Self.locked != 0 } }
  var writebackFrames: [Frame] { pages.filter { $0.flags & Self.writeback != 0 } }

  /// The assertions they make: a locked frame breaks `pages-unlocked`, a frame under writeback
  /// `pages-settled`. The first line of each names the frame (what the baseline is compared by),
  /// the rest is its flags.
  var assertions: [AssertionRecord] {
    let locked = lockedFrames.map { f in
      AssertionRecord(
        rule: LinuxModel.pagesUnlocked.rawValue,
        detail:
          "page frame \(f.pfn) is locked at rest (/proc/kpageflags; whose page it is cannot be read without waiting on its lock)\nflags: \(Self.describe(f.flags))"
      )
    }
    let writeback = writebackFrames.map { f in
      AssertionRecord(
        rule: LinuxModel.pagesSettled.rawValue,
        detail:
          "page frame \(f.pfn) is under writeback with the disk idle (/proc/kpageflags): its writeback never ended\nflags: \(Self.describe(f.flags))"
      )
    }
    return locked + writeback
  }
}

/// kmemleak's report (/sys/kernel/debug/kmemleak, read in several rounds) as findings of
/// `no-leak`: one per unreferenced object (each once), with its size, the task that allocated it
/// and its backtrace. Addresses, pids, jiffies and checksums are left out: they differ from boot
/// to boot.
enum KmemleakReport {
  static func findings(_ text: String) -> [Finding] {
    var out: [Finding] = []
    var current: [String] = []
    func flush() {
      guard let head = current.first else { return }
      let size = head.range(of: "(size ").map { head[$0.upperBound...].prefix { $0.isNumber } } ?? "?"
      var comm = "?"
      var evidence: [String] = []
      for line in current.dropFirst() {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("comm \"") {
          comm = String(t.dropFirst(6).prefix { $0 != "\"" })
        } else if t.hasPrefix("backtrace") {
          evidence.append("backtrace:")
        } else if t.hasPrefix("hex dump") {
          evidence.append("hex dump (first bytes):")
        } else if !t.isEmpty {
          // `[<0000000012345678>] leak_write+0x6c/0x120 [fl_planted]` → the symbol.
          var s = Substring(t)
          if s.hasPrefix("[<"), let end = s.range(of: ">] ") { s = s[end.upperBound...] }
          evidence.append("  " + s)
        }
      }
      out.append(
        Finding(
          invariant: LinuxModel.noLeak,
          message:
            "kmemleak: an object of \(size) bytes allocated during the scenario (by \(comm)) is unreferenced: leaked",
          evidence: evidence))
      current = []
    }
    // The agent reads the report in several rounds: each object (its header names its address)
    // once. At most one pass over the lines.
    var seen = Set<String>()
    var skipping = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
      if line.hasPrefix("unreferenced object") {
        flush()
        skipping = !seen.insert(line).inserted
      }
      if skipping { continue }
      if line.hasPrefix("unreferenced object") || !current.isEmpty { current.append(line) }
    }
    flush()
    return out
  }
}

/// Lockdep's list of every lock held in the system (`Showing all locks held in the system:`, from
/// SysRq d) as findings of `locks-released`: each thread of the plan's tasks in user space (`tasks`,
/// thread ids) that holds a lock.
enum HeldLocks {
  static func findings(in msgs: [KernelMessage], tasks: Set<String>) -> [Finding] {
    guard let start = msgs.firstIndex(where: { $0.text.contains("Showing all locks held in the system") }) else {
      return []
    }
    var out: [Finding] = []
    var task: String?
    var locks: [String] = []
    func flush() {
      if let task, !locks.isEmpty, let tid = task.split(separator: "/").last, tasks.contains(String(tid)) {
        out.append(
          Finding(
            invariant: .locksReleased,
            message:
              "lock held when returning to user space: \(task) holds \(locks.count) lock\(locks.count == 1 ? "" : "s") at rest, after its operations returned (lockdep's list of held locks)",
            evidence: locks))
      }
      task = nil
      locks = []
    }
    // At most one pass over the messages after the list's title.
    for m in msgs[msgs.index(after: start)...] {
      let t = m.text
      if t.hasPrefix("=====") { break }
      if let by = t.range(of: " held by "), t.hasSuffix(":") {
        flush()
        task = String(t[by.upperBound...].dropLast())
      } else if task != nil, let hash = t.range(of: "#"), t[..<hash.lowerBound].allSatisfy(\.isWhitespace) {
        // ` #0: 000000008600d060 (planted_lock){+.+.}-{3:3}, at: hold_mutex_write+0x8e/0xb4 [fl_planted]`
        // without the lock's address.
        var line = String(t[hash.lowerBound...])
        if let paren = line.range(of: " ("), let colon = line.range(of: ": ") {
          line = String(line[..<colon.upperBound]) + line[line.index(after: paren.lowerBound)...]
        }
        locks.append(line)
      }
    }
    flush()
    return out
  }
}
