import Foundation
import Testing

/// Every call a sweep makes into an engine runs where a crash or a hang costs that call: the
/// fault-free recording run, the scenarios, shrinking, the report's re-runs for snapshots, and
/// `replay`. The planted engine misbehaves in the phase its plan names (PlantedEngine.swift).
@Suite("engine isolation", .serialized)
struct IsolationTests {
  static let planted = ["FAULTLINE_PLANTED": "1"]

  /// A planted plan with two write ops, swept at planted.step, with `setup` (YAML lines).
  static func plan(_ dir: URL, _ name: String, _ setup: [String]) throws -> String {
    let url = dir.appendingPathComponent("\(name).yaml")
    let text =
      ["plan: \(name)", "engine: planted-model", "setup:"] + setup.map { "  " + $0 } + [
        "tasks:", "  - name: app", "    ops:", "      - write: { path: /a, offset: 0, length: 4KiB }",
        "      - write: { path: /a, offset: 4KiB, length: 4KiB }", "sweep: { points: [planted.step], depth: 1 }",
      ]
    try Data((text.joined(separator: "\n") + "\n").utf8).write(to: url)
    return url.path
  }

  /// A sweep of `plans` under supervision; it must end in time and leave nothing behind.
  static func sweep(
    _ plans: [String], _ dir: URL, extra: [String] = [], environment: [String: String] = planted, seconds: Double = 180,
    during: ((Supervised) throws -> Void)? = nil
  ) throws -> Supervised.Output {
    let r = try Supervised.run(
      ["sweep"] + plans + ["--quiet", "--report-dir", dir.path] + extra, environment: environment, seconds: seconds,
      during: during)
    #expect(!r.hung, "the sweep did not end within \(seconds)s: \(r.stdout)\(r.stderr)")
    #expect(r.leftovers.isEmpty, "left running: \(r.leftovers)")
    #expect(Supervised.halfWritten(dir).isEmpty, "half-written: \(Supervised.halfWritten(dir))")
    #expect(
      Supervised.tmpLeftovers(r.pids, since: r.started).isEmpty,
      "left in /tmp: \(Supervised.tmpLeftovers(r.pids, since: r.started))")
    return r
  }

  @Test("a plan whose recording run segfaults is a crashed result of its own; the others are swept; resume agrees")
  func recordingCrash() throws {
    let dir = try CLITests.scratch("iso-record-crash")
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = try Self.plan(dir, "bad", ["misbehave: { do: segv, in: record }"])
    let good = try Self.plan(dir, "good", ["violate: false"])
    let out = dir.appendingPathComponent("out")
    let r = try Self.sweep([bad, good], out, extra: ["--jobs", "2", "--timeout", "20"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("bad: 1 scenarios, 0 passed, 1 failed, 1 distinct failure(s)"), "\(r.stdout)")
    #expect(r.stdout.contains("good: 5 scenarios, 5 passed, 0 failed"), "\(r.stdout)")
    #expect(r.stdout.contains("the fault-free recording run crashed (killed by SIGSEGV (signal 11))"))
    #expect(r.stdout.contains("signature: crashed:SIGSEGV | "))
    let first = try Data(contentsOf: out.appendingPathComponent("results.json"))
    // Resuming the finished sweep records the same plan the same way, and does not die of it.
    let again = try Supervised.run(
      ["sweep", bad, good, "--quiet", "--jobs", "2", "--timeout", "20", "--resume", out.path],
      environment: Self.planted, seconds: 180)
    #expect(again.status == 1 && !again.hung, "\(again.stdout)\(again.stderr)")
    #expect(try Data(contentsOf: out.appendingPathComponent("results.json")) == first)
  }

  @Test("a plan whose recording run hangs is a timed-out result of its own, within the timeout")
  func recordingHang() throws {
    let dir = try CLITests.scratch("iso-record-hang")
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = try Self.plan(dir, "stuck", ["misbehave: { do: hang, in: record }"])
    let good = try Self.plan(dir, "fine", ["violate: false"])
    let r = try Self.sweep([bad, good], dir.appendingPathComponent("out"), extra: ["--timeout", "2"], seconds: 120)
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("stuck: 1 scenarios, 0 passed, 1 failed"), "\(r.stdout)")
    #expect(r.stdout.contains("the fault-free recording run hung (no answer within 2.0s)"), "\(r.stdout)")
    #expect(r.stdout.contains("fine: 5 scenarios, 5 passed, 0 failed"), "\(r.stdout)")
  }

  @Test("a crash while shrinking keeps the failure and its repro as found")
  func shrinkCrash() throws {
    let dir = try CLITests.scratch("iso-shrink")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try Self.plan(dir, "shrinky", ["violate: true", "misbehave: { do: crash, in: shrink, below-ops: 2 }"])
    let out = dir.appendingPathComponent("out")
    let r = try Self.sweep([p], out, extra: ["--timeout", "20"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("1. planted-clean after planted.step#1 fail: EIO"), "\(r.stdout)")
    #expect(r.stdout.contains("repro kept as found: shrinking it, the engine crashed (killed by SIGILL"), "\(r.stdout)")
    // As found: both writes are still there.
    let repro = try String(contentsOf: out.appendingPathComponent("repro/shrinky-repro-1.yaml"), encoding: .utf8)
    #expect(repro.components(separatedBy: "write:").count == 3, "\(repro)")
    #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.html").path))
  }

  @Test("a crash when the report runs a failure again for its snapshots keeps the failure, without pictures")
  func snapshotCrash() throws {
    let dir = try CLITests.scratch("iso-snapshots")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try Self.plan(dir, "pictures", ["violate: true", "misbehave: { do: abort, in: report, hit: 1 }"])
    let out = dir.appendingPathComponent("out")
    let r = try Self.sweep([p], out, extra: ["--timeout", "20"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("1. planted-clean after planted.step#1 fail: EIO"), "\(r.stdout)")
    #expect(r.stdout.contains("no snapshots: its first scenario, run again for them, crashed (killed by SIGABRT"))
    let results = try String(contentsOf: out.appendingPathComponent("results.json"), encoding: .utf8)
    #expect(!results.contains("\"atRest\""), "the failure has no snapshots")
    #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("repro/pictures-repro-1.yaml").path))
  }

  @Test("replay has a timeout, and reports a crash or a hang of the engine instead of sharing it")
  func replayTimeout() throws {
    let dir = try CLITests.scratch("iso-replay")
    defer { try? FileManager.default.removeItem(at: dir) }
    let hang = try Self.plan(dir, "hangs", ["misbehave: { do: hang, in: replay }"])
    let h = try Supervised.run(["replay", hang, "--timeout", "2"], environment: Self.planted, seconds: 60)
    #expect(!h.hung && h.status == 1, "\(h.stdout)\(h.stderr)")
    #expect(h.stdout.contains("TIMED OUT \(hang): no answer within 2.0s"), "\(h.stdout)")
    #expect(h.leftovers.isEmpty, "\(h.leftovers)")
    let crash = try Self.plan(dir, "crashes", ["misbehave: { do: segv, in: replay }"])
    let c = try Supervised.run(["replay", crash], environment: Self.planted, seconds: 60)
    #expect(!c.hung && c.status == 1, "\(c.stdout)\(c.stderr)")
    #expect(c.stdout.contains("CRASHED \(crash): the engine crashed (killed by SIGSEGV (signal 11))"), "\(c.stdout)")
    let fine = try Self.plan(dir, "fine", ["violate: false"])
    let f = try Supervised.run(["replay", fine, "--timeout", "20"], environment: Self.planted, seconds: 60)
    #expect(f.status == 0 && f.stdout.contains("PASS fine"), "\(f.stdout)\(f.stderr)")
  }

  @Test("different signals are different crashes: a SIGSEGV and a SIGABRT at one point are two signatures")
  func signalsApart() throws {
    let dir = try CLITests.scratch("iso-signals")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try Self.plan(
      dir, "signals",
      ["misbehave: [ { do: segv, in: scenario, hit: 1 }, { do: abort, in: scenario, hit: 2 } ]"])
    let r = try Self.sweep([p], dir.appendingPathComponent("out"), extra: ["--jobs", "2", "--timeout", "20"])
    #expect(r.status == 1)
    #expect(r.stdout.contains("signals: 5 scenarios, 1 passed, 4 failed, 2 distinct failure(s)"), "\(r.stdout)")
    #expect(r.stdout.contains("killed by SIGSEGV (signal 11)\n   signature: crashed:SIGSEGV | planted.step:fail"))
    #expect(r.stdout.contains("killed by SIGABRT (signal 6)\n   signature: crashed:SIGABRT | planted.step:fail"))
  }

  @Test("a crash that does not happen again in a fresh worker is reported as flaky, with both outcomes")
  func flakyCrash() throws {
    let dir = try CLITests.scratch("iso-flaky")
    defer { try? FileManager.default.removeItem(at: dir) }
    let once = dir.appendingPathComponent("once").path
    let p = try Self.plan(dir, "flaky", ["misbehave: { do: segv, in: scenario, hit: 1, once: \(once) }"])
    let r = try Self.sweep([p], dir.appendingPathComponent("out"), extra: ["--timeout", "20"])
    #expect(r.status == 1)
    #expect(r.stdout.contains("flaky: 5 scenarios, 4 passed, 1 failed"), "\(r.stdout)")
    #expect(
      r.stdout.contains(
        "killed by SIGSEGV (signal 11); run again in a fresh worker, it passed\n"
          + "   signature: crashed:SIGSEGV flaky | planted.step:fail"), "\(r.stdout)")
  }
}
