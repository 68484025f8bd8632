import FaultKit
import FaultlineEngines
import Foundation
import Testing

@testable import LinuxEngine

/// Proof that the kernel oracles see what they claim (issue 16): a kernel module with defects
/// planted on purpose (Kernel/planted, test-only) is loaded into the guest; each defect is
/// reported by the named invariant with the kernel's own evidence, and the same path done right
/// passes every invariant. The module is built by scripts/build-test-modules (scripts/test runs
/// it); without it these tests fail, saying so.
@Suite("linux: planted kernel defects are reported by the kernel's checks; their clean paths pass")
struct PlantedDefectTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The planted module built for the kernel the tests boot, from the sources in the tree.
  static func module() throws -> String {
    let p = Process()
    p.executableURL = root.appendingPathComponent("scripts/build-test-modules")
    p.arguments = ["--print-path"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    let path = text.split(separator: "\n").last.map(String.init) ?? ""
    guard p.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
      throw PlantedModuleMissing(path: path)
    }
    return path
  }

  struct PlantedModuleMissing: Error, CustomStringConvertible {
    let path: String
    var description: String {
      "the planted-defect module is not built (\(path.isEmpty ? "no kernel cache" : path)): run scripts/build-test-modules (after scripts/build-kernel)"
    }
  }

  /// Tests/Fixtures/planted/NAME.yaml with the module's path filled in, each control op's mode
  /// word set to `mode`, loaded as a plan.
  static func plan(_ name: String, mode: String) throws -> Plan {
    let module = try module()
    let text = try String(
      contentsOf: root.appendingPathComponent("Tests/Fixtures/planted/\(name).yaml"), encoding: .utf8
    ).replacingOccurrences(of: "@PLANTED_MODULE@", with: module)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-planted-\(getpid())-\(name)-\(mode)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("\(name).yaml")
    try text.write(to: file, atomically: true, encoding: .utf8)
    var plan = try PlanLoader(registry: FaultlineEngines.registry).load(file: file.path)
    for t in plan.tasks.indices {
      for o in plan.tasks[t].ops.indices where plan.tasks[t].ops[o].kind == .control {
        let value = plan.tasks[t].ops[o].value ?? ""
        let rest = value.split(separator: " ", maxSplits: 1).dropFirst().first.map { " " + $0 } ?? ""
        plan.tasks[t].ops[o].value = mode + rest
      }
    }
    return plan
  }

  static func run(_ name: String, _ mode: String) throws -> ScenarioResult {
    try ScenarioRunner(registry: FaultlineEngines.registry).run(try plan(name, mode: mode))
  }

  static func violations(_ r: ScenarioResult, _ name: InvariantName) -> [Violation] {
    r.violations.filter { $0.invariant == name }
  }

  /// The clean path: every invariant holds and nothing is unjudged.
  static func expectClean(_ r: ScenarioResult, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(r.violations.isEmpty, "\(r.violations)", sourceLocation: sourceLocation)
    #expect((r.unjudged ?? []).isEmpty, "\(r.unjudged ?? [])", sourceLocation: sourceLocation)
    #expect(r.ops.allSatisfy { $0.outcome.status != .hung }, "\(r.ops)", sourceLocation: sourceLocation)
  }

  @Test("a mutex held returning to user space: locks-released, with lockdep naming the lock, where and who")
  func holdMutex() throws {
    let r = try Self.run("hold-mutex", "defect")
    let v = Self.violations(r, .locksReleased)
    #expect(v.count == 1, "\(r.violations)")
    let text = ([v.first?.message ?? ""] + (v.first?.evidence ?? [])).joined(separator: "\n")
    #expect(text.contains("lock held when returning to user space"), "\(text)")
    #expect(text.contains("(planted_lock)"), "the lock's name: \(text)")
    #expect(text.contains("at: hold_mutex_write"), "where it was taken: \(text)")
    #expect(text.contains("fl-agent/"), "the task: \(text)")
    Self.expectClean(try Self.run("hold-mutex", "clean"))
  }

  @Test("a page left locked: pages-unlocked at rest, with its frame and flags from /proc/kpageflags")
  func lockPage() throws {
    let r = try Self.run("lock-page", "defect")
    let v = Self.violations(r, LinuxModel.pagesUnlocked)
    #expect(v.count == 1, "\(r.violations)")
    #expect(v.first?.message.hasPrefix("page frame ") == true, "\(v)")
    #expect(v.first?.message.contains("is locked at rest") == true, "\(v)")
    // The page read in by the module: uptodate, on the LRU, locked.
    let flags = v.first?.evidence.first ?? ""
    #expect(flags.hasPrefix("flags: locked") && flags.contains("uptodate"), "\(v)")
    // Unmounting would wait on the page: the stopped-state checks are said not to have run.
    #expect((r.unjudged ?? []).contains { $0.reason.contains("left locked at rest") }, "\(r.unjudged ?? [])")
    #expect(r.violations.allSatisfy { $0.invariant == LinuxModel.pagesUnlocked }, "\(r.violations)")
    Self.expectClean(try Self.run("lock-page", "clean"))
  }

  @Test("a writer waiting on the page left locked: no-hang, with the hung-task detector's stack")
  func lockPageWait() throws {
    let r = try Self.run("lock-page-wait", "defect")
    let v = Self.violations(r, .noHang)
    #expect(!v.isEmpty, "\(r.violations) \(r.unjudged ?? [])")
    let text = v.map { ([$0.message] + $0.evidence).joined(separator: "\n") }.joined(separator: "\n")
    #expect(text.contains("blocked for more than"), "\(text)")
    #expect(text.contains("folio_lock") || text.contains("folio_wait_bit"), "waiting on the page lock: \(text)")
    #expect(r.ops.contains { $0.outcome.status == .hung }, "\(r.ops)")
    Self.expectClean(try Self.run("lock-page-wait", "clean"))
  }

  @Test("a task asleep for ever in D state: no-hang, with the hung-task detector's report, not a bare timeout")
  func hang() throws {
    let r = try Self.run("hang", "defect")
    let v = Self.violations(r, .noHang)
    #expect(!v.isEmpty, "\(r.violations) \(r.unjudged ?? [])")
    let text = v.map { ([$0.message] + $0.evidence).joined(separator: "\n") }.joined(separator: "\n")
    #expect(text.contains("INFO: task fl-agent:") && text.contains("blocked for more than"), "\(text)")
    #expect(text.contains("wait_for_completion") && text.contains("hang_write"), "the stack: \(text)")
    Self.expectClean(try Self.run("hang", "clean"))
  }

  @Test("an allocation leaked on an error path: no-leak, with kmemleak's backtrace")
  func leak() throws {
    // kmemleak is conservative: a copy of the object's address anywhere it scans counts as a
    // reference (on UML likely a register frame of an interrupted kernel path left on the IRQ
    // signal stack, cpu0_irqstack, which kmemleak scans with the kernel's data), and it missed
    // this leak in 2 of 8 `faultline run`s, and in the first 3 runs of one test under load. Up
    // to 6 runs (a later one may reuse the machine: each scenario starts by clearing what
    // kmemleak found before), and the number it took is said; the clean mode must never report one.
    var tries = 0
    var r: ScenarioResult
    repeat {
      tries += 1
      r = try Self.run("leak", "defect")
    } while Self.violations(r, LinuxModel.noLeak).isEmpty && tries < 6
    if tries > 1 { print("PlantedDefectTests.leak: kmemleak reported the leak in run \(tries)") }
    let v = Self.violations(r, LinuxModel.noLeak)
    #expect(v.count == 1, "after \(tries) run(s): \(r.violations) \(r.unjudged ?? [])")
    for leak in v {
      #expect(leak.message.contains("an object of 16384 bytes"), "the request's size: \(leak)")
      #expect(leak.evidence.contains { $0.contains("leak_write") }, "the allocation site: \(leak)")
      #expect(leak.evidence.contains { $0.contains("no number here") }, "its bytes: \(leak)")
    }
    #expect(r.violations.allSatisfy { $0.invariant == LinuxModel.noLeak }, "\(r.violations)")
    Self.expectClean(try Self.run("leak", "clean"))
  }
}
