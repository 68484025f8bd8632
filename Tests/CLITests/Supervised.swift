import Foundation
import Testing

/// Runs `faultline` the way a supervisor does: in a process group of its own, within a time
/// bound (past it the group is killed and the run marked hung), watching every process it
/// starts, and then checking it left nothing behind: no process, no temporary file, no
/// half-written report.
final class Supervised: @unchecked Sendable {
  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
    /// It did not end within the bound (and was killed).
    let hung: Bool
    /// Processes it started that were still running after it ended (each `pid cmdline`).
    let leftovers: [String]
    /// Its pid and those of every process it started.
    let pids: [Int32]
    /// When it started.
    let started: Date
  }

  let process = Process()
  private let lock = NSLock()
  private var seen: [Int32: String] = [:]
  private var watching = true

  /// The processes it started so far (pid → its start time, to tell a reused pid).
  var descendants: [Int32: String] {
    lock.lock()
    defer { lock.unlock() }
    return seen
  }

  /// `descendants`, looked for once more now.
  func scan() -> [Int32: String] {
    record(under: process.processIdentifier)
    return descendants
  }

  /// Its process group (the pid of a group leader).
  var group: Int32 { Proc.stat(process.processIdentifier)?.pgrp ?? process.processIdentifier }

  /// Runs `args` to its end (or `seconds`); `during` runs meanwhile with this supervisor.
  static func run(
    _ args: [String], environment: [String: String] = [:], seconds: Double,
    during: ((Supervised) throws -> Void)? = nil
  ) throws -> Output {
    let s = Supervised()
    return try s.run(args, environment: environment, seconds: seconds, during: during)
  }

  private func run(
    _ args: [String], environment: [String: String], seconds: Double, during: ((Supervised) throws -> Void)?
  ) throws -> Output {
    // As a shell runs a job in the foreground of a terminal: SIGINT and SIGQUIT at their default
    // (a non-interactive shell's background job, as `swift test` may be, ignores both).
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    // FAULTLINE_TEST_BINARY runs these tests against another build (an older one, to see them fail).
    let binary = try ProcessInfo.processInfo.environment["FAULTLINE_TEST_BINARY"] ?? CLI.binary.path
    process.arguments = ["--default-signal=INT,QUIT", binary] + args
    process.currentDirectoryURL = CLI.root
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let started = Date()
    try process.run()
    let pid = process.processIdentifier
    let outData = BoundedDrain(out.fileHandleForReading)
    let errData = BoundedDrain(err.fileHandleForReading)
    let watcher = Thread { [self] in
      while true {
        lock.lock()
        let go = watching
        lock.unlock()
        if !go { break }
        record(under: pid)
        usleep(20_000)
      }
    }
    watcher.start()
    var duringError: Error?
    if let during {
      do { try during(self) } catch { duringError = error }
    }
    var hung = false
    while process.isRunning {
      if Date().timeIntervalSince(started) > seconds {
        hung = true
        Glibc.kill(-group, SIGKILL)
        Glibc.kill(pid, SIGKILL)
        break
      }
      usleep(20_000)
    }
    process.waitUntilExit()
    lock.lock()
    watching = false
    lock.unlock()
    // What it started has a few seconds to be gone (a worker killed with its parent is reaped
    // by init); anything still running then is left behind.
    var left: [String] = []
    for _ in 0..<250 {
      left = descendants.compactMap { p, start in
        guard let st = Proc.stat(p), st.start == start, st.state != "Z" else { return nil }
        return "\(p) \(Proc.cmdline(p))"
      }.sorted()
      if left.isEmpty { break }
      usleep(20_000)
    }
    for line in left { if let p = Int32(line.split(separator: " ")[0]) { Glibc.kill(p, SIGKILL) } }
    let o = outData.wait(seconds: 10)
    let e = errData.wait(seconds: 10)
    if let duringError { throw duringError }
    return Output(
      status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
      stderr: String(decoding: e, as: UTF8.self), hung: hung, leftovers: left,
      pids: [pid] + descendants.keys.sorted(), started: started)
  }

  /// Adds every process whose parent is `root` or one already seen.
  private func record(under root: Int32) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
    var found: [Int32: String] = [:]
    var parents: [Int32: Int32] = [:]
    for name in entries {
      guard let p = Int32(name), let st = Proc.stat(p) else { continue }
      parents[p] = st.ppid
      found[p] = st.start
    }
    lock.lock()
    defer { lock.unlock() }
    var changed = true
    var rounds = 0
    while changed && rounds < 8 {
      changed = false
      rounds += 1
      for (p, pp) in parents where seen[p] == nil && (pp == root || seen[pp] != nil) {
        seen[p] = found[p]
        changed = true
      }
    }
  }

  /// Waits up to `seconds` for `path` to exist.
  static func waitFor(_ path: String, seconds: Double) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
      if FileManager.default.fileExists(atPath: path) { return true }
      usleep(20_000)
    }
    return false
  }

  /// Entries of /tmp a run with these pids left: faultline's, named for one of the pids
  /// (`faultline-uml-PID-N`, a machine's directory; `faultline-…-PID…`), changed since it started
  /// (an older one is another process's that had the pid). Workers' output files have no name.
  static func tmpLeftovers(_ pids: [Int32], since: Date) -> [String] {
    let tmp = NSTemporaryDirectory()
    let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
    return names.filter { n in
      guard n.hasPrefix("faultline-"),
        pids.contains(where: { n.contains("-\($0)-") || n.hasSuffix("-\($0)") || n.hasSuffix("-\($0).err") })
      else {
        return false
      }
      let changed = (try? FileManager.default.attributesOfItem(atPath: "\(tmp)/\(n)")[.modificationDate]) as? Date
      return (changed ?? .distantFuture) >= since.addingTimeInterval(-1)
    }
  }

  /// Temporary files (`.name.tmp-PID`) under a report directory.
  static func halfWritten(_ dir: URL) -> [String] {
    let all = FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []
    return all.filter { $0.contains(".tmp-") }
  }
}

/// /proc, read.
enum Proc {
  struct Stat {
    let state: String
    let ppid: Int32
    let pgrp: Int32
    let start: String
  }

  static func stat(_ pid: Int32) -> Stat? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return nil }
    let f = text[text.index(after: close)...].split(separator: " ")
    guard f.count > 19, let ppid = Int32(f[1]), let pgrp = Int32(f[2]) else { return nil }
    return Stat(state: String(f[0]), ppid: ppid, pgrp: pgrp, start: String(f[19]))
  }

  /// Live processes (not zombies) in any of these process groups, each `pid state cmdline`.
  static func members(ofGroups groups: Set<Int32>) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { name -> String? in
      guard let p = Int32(name), let st = stat(p), groups.contains(st.pgrp), st.state != "Z" else { return nil }
      return "\(p) \(st.state) \(cmdline(p))"
    }.sorted()
  }

  static func cmdline(_ pid: Int32) -> String {
    let d = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
    return String(decoding: d.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
  }
}

/// Reads a pipe to its end on a thread of its own; waiting for it is bounded (a pipe a leftover
/// process still holds open never ends).
final class BoundedDrain: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()
  private let done = DispatchSemaphore(value: 0)
  init(_ handle: FileHandle) {
    Thread.detachNewThread { [self] in
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        lock.lock()
        data.append(chunk)
        lock.unlock()
      }
      done.signal()
    }
  }
  /// The data, or what there is after `seconds`.
  func wait(seconds: Double) -> Data {
    _ = done.wait(timeout: .now() + seconds)
    lock.lock()
    defer { lock.unlock() }
    return data
  }
}
