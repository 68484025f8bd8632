import Foundation
import Testing

/// A failure of an engine that is not deterministic is run again (`--reruns`) and reported with
/// how often it reproduced; deterministic engines are not rerun. The fixture `planted-flaky-model`
/// breaks its rule only in the runs a counter file names (PlantedEngine.swift).
@Suite("reruns of engines that are not deterministic", .serialized)
struct RerunTests {
  /// A plan of `engine` with one write, swept at planted.step (a transient and a persistent fault).
  static func plan(_ dir: URL, _ name: String, engine: String, _ setup: [String]) throws -> String {
    let url = dir.appendingPathComponent("\(name).yaml")
    let text =
      ["plan: \(name)", "engine: \(engine)", "setup:"] + setup.map { "  " + $0 } + [
        "tasks:", "  - name: app", "    ops:", "      - write: { path: /a, offset: 0, length: 4KiB }",
        "sweep: { points: [planted.step], depth: 1 }",
      ]
    try Data((text.joined(separator: "\n") + "\n").utf8).write(to: url)
    return url.path
  }

  static func failures(_ out: URL) throws -> [[String: Any]] {
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json")))
    let plans = (json as? [String: Any])?["plans"] as? [[String: Any]] ?? []
    return plans.flatMap { $0["failures"] as? [[String: Any]] ?? [] }
  }

  @Test("a failure that reproduces in 1 of 3 reruns says so: terminal, results.json, junit, HTML, repro header")
  func reproducedOnce() throws {
    let dir = try CLITests.scratch("rerun-once")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counter = dir.appendingPathComponent("count").path
    // Run 1 (the transient fault's scenario) breaks the rule; its reruns are runs 2, 3 and 4.
    let p = try Self.plan(
      dir, "sometimes", engine: "planted-flaky-model",
      ["violate: true", "violate-in: { counter: \(counter), runs: [1, 3] }"])
    let out = dir.appendingPathComponent("out")
    let r = try IsolationTests.sweep([p], out, extra: ["--timeout", "20"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("sometimes: 3 scenarios, 2 passed, 1 failed"), "\(r.stdout)")
    #expect(r.stdout.contains("1. planted-clean after planted.step#1 fail: EIO"), "\(r.stdout)")
    #expect(r.stdout.contains("   reruns: reproduced 1 of 3 reruns; the others passed, passed\n"), "\(r.stdout)")
    let f = try Self.failures(out)
    #expect(f.count == 1)
    #expect(f.first?["reruns"] as? Int == 3 && f.first?["reproduced"] as? Int == 1, "\(f)")
    let junit = try String(contentsOf: out.appendingPathComponent("junit.xml"), encoding: .utf8)
    #expect(junit.contains("(1 scenario); reproduced 1 of 3 reruns"), "\(junit)")
    let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(html.contains("reproduced 1 of 3 reruns"))
    let repro = try String(contentsOf: out.appendingPathComponent("repro/sometimes-repro-1.yaml"), encoding: .utf8)
    #expect(
      repro.hasPrefix(
        "# Engine planted-flaky-model is not deterministic (its scheduling is not ours): in the sweep this failure reproduced 1 of 3 reruns"
      ), "\(repro)")
  }

  @Test("a failure that reproduces in none of its reruns is still reported, as flaky; --reruns sets how many")
  func neverAgain() throws {
    let dir = try CLITests.scratch("rerun-never")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counter = dir.appendingPathComponent("count").path
    let p = try Self.plan(
      dir, "once", engine: "planted-flaky-model", ["violate: true", "violate-in: { counter: \(counter), runs: [1] }"])
    let out = dir.appendingPathComponent("out")
    let r = try IsolationTests.sweep([p], out, extra: ["--timeout", "20", "--reruns", "2"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("once: 3 scenarios, 2 passed, 1 failed"), "\(r.stdout)")
    #expect(
      r.stdout.contains("   reruns: reproduced 0 of 2 reruns (flaky: it happened once); the others passed, passed\n"),
      "\(r.stdout)")
    let f = try Self.failures(out)
    #expect(f.first?["reruns"] as? Int == 2 && f.first?["reproduced"] as? Int == 0, "\(f)")
  }

  @Test("--in-process reruns too")
  func inProcess() throws {
    let dir = try CLITests.scratch("rerun-in-process")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counter = dir.appendingPathComponent("count").path
    let p = try Self.plan(
      dir, "here", engine: "planted-flaky-model",
      ["violate: true", "violate-in: { counter: \(counter), runs: [1, 2] }"])
    let r = try IsolationTests.sweep([p], dir.appendingPathComponent("out"), extra: ["--in-process"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("   reruns: reproduced 1 of 3 reruns; the others passed, passed\n"), "\(r.stdout)")
  }

  @Test("a crash of an engine that is not deterministic is rerun --reruns times in fresh workers")
  func flakyCrash() throws {
    let dir = try CLITests.scratch("rerun-crash")
    defer { try? FileManager.default.removeItem(at: dir) }
    let once = dir.appendingPathComponent("once").path
    let p = try Self.plan(
      dir, "crashy", engine: "planted-flaky-model", ["misbehave: { do: segv, in: scenario, hit: 1, once: \(once) }"])
    let r = try IsolationTests.sweep([p], dir.appendingPathComponent("out"), extra: ["--timeout", "20"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("crashy: 3 scenarios, 2 passed, 1 failed"), "\(r.stdout)")
    #expect(
      r.stdout.contains(
        "killed by SIGSEGV (signal 11); run again 3 time(s) in fresh workers, it never did so again\n"
          + "   reruns: reproduced 0 of 3 reruns (flaky: it happened once); the others passed, passed, passed\n"
          + "   signature: crashed:SIGSEGV flaky | planted.step:fail"), "\(r.stdout)")
  }

  @Test("a deterministic engine's failures are not rerun")
  func deterministicNotRerun() throws {
    let dir = try CLITests.scratch("rerun-deterministic")
    defer { try? FileManager.default.removeItem(at: dir) }
    let counter = dir.appendingPathComponent("count").path
    let p = try Self.plan(
      dir, "steady", engine: "planted-model", ["violate: true", "violate-in: { counter: \(counter), runs: [1, 2, 3] }"])
    let out = dir.appendingPathComponent("out")
    let r = try IsolationTests.sweep([p], out, extra: ["--timeout", "20", "--points", "planted.step"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(!r.stdout.contains("reruns:"), "\(r.stdout)")
    #expect(try Self.failures(out).allSatisfy { $0["reruns"] == nil })
  }

  @Test("--reruns out of range is bad input")
  func badReruns() throws {
    let r = try Supervised.run(
      ["sweep", "Tests/Fixtures/planted.yaml", "--reruns", "101"], environment: IsolationTests.planted, seconds: 60)
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("--reruns 101: expected 0 to 100"), "\(r.stderr)")
  }
}
