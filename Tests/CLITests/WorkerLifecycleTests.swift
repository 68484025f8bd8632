import Foundation
import Testing

/// Worker processes cannot outlive the sweep, cannot be mistaken for engine crashes when someone
/// else kills them, cannot be talked over by an engine's printf, and cannot take the sweep with
/// them when they die between scenarios.
@Suite("worker lifecycle", .serialized)
struct WorkerLifecycleTests {
  typealias Iso = IsolationTests

  /// The worker processes under a supervised sweep (`sweep-worker` in their command line).
  static func workers(_ s: Supervised) -> [Int32] {
    s.scan().keys.filter { Proc.cmdline($0).contains("sweep-worker") }.sorted()
  }

  @Test("an engine printing to standard output does not garble the answers")
  func printingEngine() throws {
    let dir = try CLITests.scratch("life-print")
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try Iso.plan(dir, "chatty", ["misbehave: { do: print }"])
    let r = try Iso.sweep([p], dir.appendingPathComponent("out"), extra: ["--jobs", "2", "--timeout", "20"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("chatty: 5 scenarios, 5 passed, 0 failed"), "\(r.stdout)")
  }

  @Test("a worker that dies between scenarios is replaced; the sweep does not die of SIGPIPE")
  func diesBetweenScenarios() throws {
    let dir = try CLITests.scratch("life-sigpipe")
    defer { try? FileManager.default.removeItem(at: dir) }
    // The engine closes the descriptor the worker reads requests from: the worker answers, then
    // ends, and the next request is written to a pipe nobody reads.
    let p = try Iso.plan(dir, "closer", ["misbehave: { do: close-protocol, in: scenario, hit: 1 }"])
    let r = try Iso.sweep([p], dir.appendingPathComponent("out"), extra: ["--jobs", "1", "--timeout", "20"])
    #expect(r.status == 0, "status \(r.status): \(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("closer: 5 scenarios, 5 passed, 0 failed"), "\(r.stdout)")
  }

  @Test("a worker killed from outside is not journaled as an engine crash; its scenario runs again")
  func killedFromOutside() throws {
    let dir = try CLITests.scratch("life-outside")
    defer { try? FileManager.default.removeItem(at: dir) }
    let once = dir.appendingPathComponent("once").path
    let marker = dir.appendingPathComponent("hanging").path
    let p = try Iso.plan(
      dir, "victim", ["misbehave: { do: hang, in: scenario, hit: 1, once: \(once), marker: \(marker) }"])
    let out = dir.appendingPathComponent("out")
    let r = try Iso.sweep([p], out, extra: ["--jobs", "1", "--timeout", "120"]) { s in
      #expect(Supervised.waitFor(marker, seconds: 60), "the engine never hung")
      let w = Self.workers(s)
      #expect(w.count == 1, "workers: \(w)")
      for pid in w { kill(pid, SIGKILL) }
    }
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("victim: 5 scenarios, 5 passed, 0 failed"), "\(r.stdout)")
    let journal = try String(contentsOf: out.appendingPathComponent("journal.jsonl"), encoding: .utf8)
    #expect(!journal.contains("crashed"), "\(journal)")
  }

  @Test("a worker that cannot start (its plugin was deleted) is bad input of the sweep, not an engine crash")
  func cannotStart() throws {
    let dir = try CLITests.scratch("life-nostart")
    defer { try? FileManager.default.removeItem(at: dir) }
    let so = dir.appendingPathComponent("toy.so")
    try PluginTests.compile([CLI.root.appendingPathComponent("Examples/c-engine/toy_engine.c").path], so)
    // The engine deletes the plugin, then crashes: the fresh worker that would confirm the crash
    // cannot load the plugin any more.
    let p = try Iso.plan(dir, "orphan", ["misbehave: { do: segv, in: scenario, hit: 1, delete: \(so.path) }"])
    let out = dir.appendingPathComponent("out")
    let r = try Iso.sweep([p], out, extra: ["--engine-plugin", so.path, "--timeout", "20"])
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("a worker could not start (exited with status 2)"), "\(r.stderr)")
    #expect(r.stderr.contains(so.path), "\(r.stderr)")
    let journal = (try? String(contentsOf: out.appendingPathComponent("journal.jsonl"), encoding: .utf8)) ?? ""
    #expect(!journal.contains("crashed"), "\(journal)")
  }

  /// The plan setup that hangs the engine in `phase`, touching `marker` when it does.
  static func hanging(_ phase: String, _ marker: String) -> [String] {
    switch phase {
    case "record": ["misbehave: { do: hang, in: record, marker: \(marker) }"]
    case "scenario": ["misbehave: { do: hang, in: scenario, hit: 1, marker: \(marker) }"]
    case "shrink": ["violate: true", "misbehave: { do: hang, in: shrink, below-ops: 2, marker: \(marker) }"]
    default: ["violate: true", "misbehave: { do: hang, in: report, hit: 1, marker: \(marker) }"]
    }
  }

  @Test(
    "kill -9 of the sweep's process group, and Ctrl-C (SIGINT to it), leave no worker running, at every phase",
    arguments: ["record", "scenario", "shrink", "report"], [SIGKILL, SIGINT])
  func killedGroup(phase: String, signal: Int32) throws {
    let dir = try CLITests.scratch("life-group-\(phase)-\(signal)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let marker = dir.appendingPathComponent("hanging").path
    let p = try Iso.plan(dir, "stuck", Self.hanging(phase, marker))
    let r = try Supervised.run(
      [
        "sweep", p, "--quiet", "--jobs", "2", "--timeout", "600", "--report-dir",
        dir.appendingPathComponent("out").path,
      ],
      environment: Iso.planted, seconds: 120
    ) { s in
      #expect(Supervised.waitFor(marker, seconds: 60), "the engine never hung in \(phase)")
      let workers = Self.workers(s)
      #expect(!workers.isEmpty, "a worker runs the \(phase) phase")
      #expect(s.group == s.process.processIdentifier, "the sweep leads its own group")
      for w in workers { #expect(Proc.stat(w)?.pgrp == s.group, "worker \(w) is in the sweep's group") }
      kill(-s.group, signal)
    }
    #expect(!r.hung, "the sweep did not end after the signal")
    #expect(r.leftovers.isEmpty, "left running after \(signal) in \(phase): \(r.leftovers)")
    #expect(
      Supervised.tmpLeftovers(r.pids, since: r.started).isEmpty, "\(Supervised.tmpLeftovers(r.pids, since: r.started))")
    // Killed before its reports: none is there to be taken for this run's, whole or half.
    let out = dir.appendingPathComponent("out")
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("results.json").path))
    #expect(Supervised.halfWritten(out).isEmpty, "\(Supervised.halfWritten(out))")
  }

  @Test("kill -9 of the sweep alone (not its group) takes its workers with it")
  func killedParentAlone() throws {
    let dir = try CLITests.scratch("life-parent")
    defer { try? FileManager.default.removeItem(at: dir) }
    let marker = dir.appendingPathComponent("hanging").path
    let p = try Iso.plan(dir, "stuck", Self.hanging("scenario", marker))
    let r = try Supervised.run(
      [
        "sweep", p, "--quiet", "--jobs", "2", "--timeout", "600", "--report-dir",
        dir.appendingPathComponent("out").path,
      ],
      environment: Iso.planted, seconds: 120
    ) { s in
      #expect(Supervised.waitFor(marker, seconds: 60), "the engine never hung")
      kill(s.process.processIdentifier, SIGKILL)
    }
    #expect(!r.hung)
    #expect(r.leftovers.isEmpty, "left running: \(r.leftovers)")
  }
}
