import Foundation
import Testing

@testable import FaultKit

/// A fake engine: enough catalog, operations, bugs and invariants to exercise every check.
private let testEngine = EngineDescriptor(
  name: "test-model", about: "a fake engine for loader tests",
  catalog: FaultCatalog([
    FaultPoint("alloc.data", kind: .allocator, errnos: [.noSpace], about: "data extent allocation"),
    FaultPoint("reserve.data", kind: .reserve, errnos: [.noSpace], about: "data space reservation"),
    FaultPoint(
      "txn.commit", kind: .transaction, errnos: [.io, .noSpace], about: "transaction commit"),
  ]),
  operations: [.write, .writeback, .fsync, .unlink, .read],
  bugs: [BugSwitch("bug-a", about: "a seeded bug")],
  invariants: [.locksReleased, .noHang, .orderedExtentsComplete],
  checkSetup: { _ in },
  make: { _ in fatalError("the loader never builds an engine") })

/// An engine whose setup check rejects everything, to see its error come through unchanged.
private let strictEngine = EngineDescriptor(
  name: "strict-model", about: "rejects every setup", catalog: FaultCatalog([]),
  operations: [.fsync], bugs: [],
  invariants: [],
  checkSetup: { value in
    throw PlanError(
      value?.location ?? FaultKit.SourceLocation(file: "?", line: 1, column: 1),
      key: "setup.device",
      expected: "a device", found: "nothing")
  },
  make: { _ in fatalError("the loader never builds an engine") })

private let loader = PlanLoader(registry: EngineRegistry([testEngine, strictEngine]))

/// The smallest plan: one task, one op, at file t.yaml. Lines 1-6.
private let minimal = """
  plan: minimal
  engine: test-model
  tasks:
    - name: writer
      ops:
        - fsync: { path: /a }

  """

/// Parses `text` as t.yaml and returns the PlanError it must throw.
private func failure(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation)
  -> PlanError?
{
  #expect(throws: PlanError.self, sourceLocation: sourceLocation) {
    try loader.parse(text, file: "t.yaml")
  }
}

/// `minimal` with `section` appended (lines from 7 on).
private func failure(
  appending section: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
)
  -> PlanError?
{
  failure(minimal + section, sourceLocation: sourceLocation)
}

private func loc(_ line: Int, _ column: Int) -> FaultKit.SourceLocation {
  FaultKit.SourceLocation(file: "t.yaml", line: line, column: column)
}

@Suite struct PlanLoaderTests {
  @Test func fullPlanParsesIntoEveryField() throws {
    let text = """
      plan: full
      engine: test-model
      about: >
        first line
        second line
      seed: 7
      bugs: [bug-a]
      setup:
        device: { blocks: 16 }
      tasks:
        - name: writer
          ops:
            - write: { path: /a, offset: 0, length: 64KiB, pattern: 0xA5 }
            - writeback: { path: /a, offset: 4096, length: 1MiB }
            - fsync: { path: /a }
        - name: reader
          ops:
            - read: { path: /a }
            - unlink: { path: /a }
      faults:
        - { at: alloc.data, nth: 2, fail: ENOSPC }
        - { at: reserve.data, every: 3, fail: ENOSPC, task: writer, op: write, mode: persistent }
        - { at: alloc.data, after: 1, times: 2, short: 4KiB }
        - { at: alloc.data, after: 5, short: true }
        - { at: txn.commit, probability: 0.25, restart: true }
        - { at: txn.commit, probability: 1, seed: 99, yield: reader }
        - { at: alloc.data, nth: 1, yield: true }
      expect:
        ops:
          writeback: { error: ENOSPC }
          writer/fsync: { error: [EIO, ENOSPC] }
          reader/2: any
          read: ok
          fsync: { error: any }
        invariants: [locks-released, no-hang]
      catches:
        bug-a: [locks-released, ordered-extents-complete]
      sweep: { points: [alloc.*, reserve.*], depth: 2, actions: [fail, short] }
      schedule: { policy: random, seed: 42 }
      limits: { steps: 500 }
      """
    let plan = try loader.parse(text, file: "t.yaml")

    #expect(plan.name == "full")
    #expect(plan.file == "t.yaml")
    #expect(plan.engine == "test-model")
    #expect(plan.about == "first line second line")
    #expect(plan.seed == 7)
    #expect(plan.bugs == ["bug-a"])
    guard case .map(let setup, _) = plan.setup else {
      Issue.record("setup is not a mapping: \(String(describing: plan.setup))")
      return
    }
    #expect(setup.map(\.key) == ["device"])

    #expect(
      plan.tasks == [
        PlanTask(
          name: "writer",
          ops: [
            Operation(
              .write, path: "/a", offset: 0, length: 65536, pattern: 165, location: loc(13, 9)),
            Operation(
              .writeback, path: "/a", offset: 4096, length: 1_048_576, location: loc(14, 9)),
            Operation(.fsync, path: "/a", location: loc(15, 9)),
          ]),
        PlanTask(
          name: "reader",
          ops: [
            Operation(.read, path: "/a", location: loc(18, 9)),
            Operation(.unlink, path: "/a", location: loc(19, 9)),
          ]),
      ])

    #expect(
      plan.faults == [
        FaultSpec(point: "alloc.data", trigger: .nth(2), action: .fail(.noSpace)),
        FaultSpec(
          point: "reserve.data", trigger: .every(3), mode: .persistent, action: .fail(.noSpace),
          task: "writer",
          op: "write"),
        FaultSpec(
          point: "alloc.data", trigger: .after(skip: 1, times: 2), action: .short(maxBytes: 4096)),
        FaultSpec(
          point: "alloc.data", trigger: .after(skip: 5, times: nil), action: .short(maxBytes: nil)),
        FaultSpec(point: "txn.commit", trigger: .probability(0.25, seed: 7), action: .restart),
        FaultSpec(
          point: "txn.commit", trigger: .probability(1, seed: 99), action: .yield(to: "reader")),
        FaultSpec(point: "alloc.data", trigger: .nth(1), action: .yield(to: nil)),
      ])

    #expect(
      plan.expect.ops == [
        OpExpectation(.kind(.writeback), .error([.noSpace])),
        OpExpectation(.taskKind("writer", .fsync), .error([.io, .noSpace])),
        OpExpectation(.index("reader", 1), .any),
        OpExpectation(.kind(.read), .ok),
        OpExpectation(.kind(.fsync), .error([])),
      ])
    #expect(plan.expect.invariants == [.locksReleased, .noHang])
    // The most specific selector wins; unmentioned ops must succeed.
    #expect(plan.expect.outcome(task: "writer", index: 2, kind: .fsync) == .error([.io, .noSpace]))
    #expect(plan.expect.outcome(task: "reader", index: 1, kind: .unlink) == .any)
    #expect(plan.expect.outcome(task: "writer", index: 0, kind: .write) == .ok)

    #expect(
      plan.catches == [Catch(bug: "bug-a", invariants: [.locksReleased, .orderedExtentsComplete])])
    #expect(
      plan.sweep
        == SweepSettings(points: ["alloc.*", "reserve.*"], depth: 2, actions: [.fail, .short]))
    #expect(plan.schedule == .random(seed: 42))
    #expect(plan.limits == Limits(steps: 500))
  }

  @Test func omittedSectionsTakeTheirDefaults() throws {
    let plan = try loader.parse(minimal, file: "t.yaml")
    #expect(plan.about == "")
    #expect(plan.seed == 0)
    #expect(plan.bugs == [])
    #expect(plan.setup == nil)
    #expect(plan.faults == [])
    #expect(plan.expect == Expectations(ops: [], invariants: nil))
    #expect(plan.catches == [])
    #expect(plan.sweep == nil)
    #expect(plan.schedule == .fifo)
    #expect(plan.limits.steps == 100_000)

    let sweep = try loader.parse(minimal + "sweep: { depth: 1 }\n", file: "t.yaml").sweep
    #expect(sweep == SweepSettings(points: ["*"], depth: 1, actions: nil))
    let seeded = try loader.parse(
      minimal + "seed: 9\nschedule: { policy: random }\n", file: "t.yaml")
    #expect(seeded.schedule == .random(seed: 9))
    let replay = try loader.parse(
      minimal + "schedule: { policy: replay, choices: [writer, w2] }\n", file: "t.yaml")
    #expect(replay.schedule == .replay(["writer", "w2"]))
  }

  @Test func misspeltTopLevelKeyIsReportedAtItsPlaceWithAHint() throws {
    let error = try #require(
      failure(appending: "fautls:\n  - { at: alloc.data, nth: 1, fail: ENOSPC }\n"))
    #expect(error.location == loc(7, 1))
    #expect(error.key == "fautls")
    #expect(error.found == "unknown key 'fautls'")
    #expect(error.hint == "did you mean 'faults'?")
    #expect(error.description.hasPrefix("t.yaml:7:1: "))
    #expect(error.description.hasSuffix("; did you mean 'faults'?"))
  }

  @Test func misspeltOperationNameHintsTheEnginesOperation() throws {
    let error = try #require(
      failure(
        """
        plan: p
        engine: test-model
        tasks:
          - name: writer
            ops:
              - write: { path: /a, offset: 0, length: 4096 }
              - fsnyc: { path: /a }
        """))
    #expect(error.location == loc(7, 9))
    #expect(error.key == "tasks[0].ops[1]")
    #expect(error.found == "'fsnyc'")
    #expect(error.hint == "did you mean 'fsync'?")
    #expect(error.description.hasPrefix("t.yaml:7:9: "))
  }

  @Test func operationTheEngineDoesNotSupportIsRejected() throws {
    let error = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - create: { path: /a }\n"
      ))
    #expect(error.found == "'create', which test-model does not support")
    #expect(error.expected.contains("fsync"))
  }

  @Test func unknownFaultPointHintsTheNearestCatalogName() throws {
    let error = try #require(
      failure(appending: "faults:\n  - { at: alloc.dta, nth: 1, fail: ENOSPC }\n"))
    #expect(error.key == "faults[0].at")
    #expect(error.location == loc(8, 11))
    #expect(error.found == "'alloc.dta'")
    #expect(error.hint == "did you mean 'alloc.data'?")
    #expect(error.expected.contains("reserve.data"))
    #expect(error.description.hasPrefix("t.yaml:8:11: "))
  }

  @Test func errnoThePointCannotReturnNamesTheOnesItCan() throws {
    let error = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, fail: EIO }\n"))
    #expect(error.key == "faults[0].fail")
    #expect(error.location == loc(8, 37))
    #expect(error.expected == "one of ENOSPC")
    #expect(error.found == "EIO, which alloc.data cannot return")
    #expect(error.hint == nil)
  }

  @Test func unknownErrnoHintsTheNearestName() throws {
    let error = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, fail: ENOSPCC }\n"))
    #expect(error.key == "faults[0].fail")
    #expect(error.found == "'ENOSPCC'")
    #expect(error.hint == "did you mean 'ENOSPC'?")
    let inExpect = try #require(
      failure(appending: "expect:\n  ops: { fsync: { error: [EIO, EBUSYY] } }\n"))
    #expect(inExpect.key == "expect.ops.fsync.error[1]")
    #expect(inExpect.hint == "did you mean 'EBUSY'?")
  }

  @Test func actionThePointDoesNotSupportIsRejected() throws {
    let error = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, restart: true }\n"))
    #expect(error.key == "faults[0].restart")
    #expect(error.expected == "an action alloc.data supports: one of fail, short, yield")
    #expect(error.found == "'restart'")
  }

  @Test func twoTriggersAreAnError() throws {
    let error = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, every: 2, fail: ENOSPC }\n"))
    #expect(error.key == "faults[0].every")
    #expect(error.location == loc(8, 31))
    #expect(error.found == "both 'nth' and 'every'")
    #expect(error.expected.contains("exactly one trigger"))
  }

  @Test func missingTriggerIsAnError() throws {
    let error = try #require(failure(appending: "faults:\n  - { at: alloc.data, fail: ENOSPC }\n"))
    #expect(error.key == "faults[0]")
    #expect(error.location.line == 8)
    #expect(error.expected == "a trigger: one of nth, every, after, probability")
    #expect(error.found == "none")
  }

  @Test func triggerOptionsBelongToTheirTrigger() throws {
    let times = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, times: 2, fail: ENOSPC }\n"))
    #expect(times.key == "faults[0].times")
    #expect(times.expected == "'times' only with 'after'")
    let seed = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, every: 1, seed: 2, fail: ENOSPC }\n"))
    #expect(seed.key == "faults[0].seed")
    #expect(seed.expected == "'seed' only with 'probability'")
    let p = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, probability: 1.5, fail: ENOSPC }\n"))
    #expect(p.key == "faults[0].probability")
    #expect(p.found == "'1.5'")
    let nth = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 0, fail: ENOSPC }\n"))
    #expect(nth.expected == "an integer ≥ 1")
    #expect(nth.found == "0")
  }

  @Test func faultContextMustNameTasksAndOperations() throws {
    let task = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, fail: ENOSPC, task: writr }\n"))
    #expect(task.key == "faults[0].task")
    #expect(task.hint == "did you mean 'writer'?")
    let yield = try #require(
      failure(appending: "faults:\n  - { at: alloc.data, nth: 1, yield: nobody }\n"))
    #expect(yield.key == "faults[0].yield")
    #expect(yield.found == "'nobody'")
    let mode = try #require(
      failure(
        appending: "faults:\n  - { at: alloc.data, nth: 1, fail: ENOSPC, mode: persistant }\n"))
    #expect(mode.hint == "did you mean 'persistent'?")
  }

  @Test func unknownEngineListsTheEnginesWithAHint() throws {
    let error = try #require(failure("plan: p\nengine: test-modle\ntasks: []\n"))
    #expect(error.key == "engine")
    #expect(error.location == loc(2, 9))
    #expect(error.expected == "one of the engines strict-model, test-model")
    #expect(error.hint == "did you mean 'test-model'?")
  }

  @Test(
    arguments: [("4096", 4096), ("64KiB", 65536), ("1MiB", 1_048_576), ("1mib", 1_048_576)]
      as [(String, UInt64)])
  func sizesParse(size: String, bytes: UInt64) throws {
    let plan = try loader.parse(
      "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - write: { path: /a, offset: 0, length: \(size) }\n",
      file: "t.yaml")
    #expect(plan.tasks[0].ops[0].length == bytes)
  }

  @Test(arguments: ["64KB", "-1", "1.5MiB", "KiB"])
  func badSizesAreRejected(size: String) throws {
    let error = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - write: { path: /a, offset: 0, length: \(size) }\n"
      ))
    #expect(error.key == "tasks[0].ops[0].write.length")
    #expect(error.found == "'\(size)'")
    #expect(error.expected.hasPrefix("a size in bytes"))
    #expect(error.location.line == 6)
  }

  @Test func patternIsAByteInDecimalOrHex() throws {
    func pattern(_ p: String) throws -> UInt8? {
      try loader.parse(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - write: { path: /a, offset: 0, length: 1, pattern: \(p) }\n",
        file: "t.yaml"
      ).tasks[0].ops[0].pattern
    }
    #expect(try pattern("0xA5") == 0xA5)
    #expect(try pattern("0x5a") == 0x5A)
    #expect(try pattern("255") == 255)
    #expect(try pattern("0") == 0)
    let error = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - write: { path: /a, offset: 0, length: 1, pattern: 0x100 }\n"
      ))
    #expect(error.key == "tasks[0].ops[0].write.pattern")
    #expect(error.expected == "an integer in 0...255")
  }

  @Test func operationArgumentsAreChecked() throws {
    let missing = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - write: { path: /a, offset: 0 }\n"
      ))
    #expect(missing.key == "tasks[0].ops[0].write.length")
    #expect(missing.found == "no 'length'")
    let unknown = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - fsync: { path: /a, lenght: 1 }\n"
      ))
    #expect(unknown.key == "tasks[0].ops[0].fsync.lenght")
    let relative = try #require(
      failure(
        "plan: p\nengine: test-model\ntasks:\n  - name: w\n    ops:\n      - fsync: { path: a }\n"))
    #expect(relative.expected == "an absolute path (/a)")
    #expect(relative.location == loc(6, 24))
  }

  @Test func duplicateTaskNamesAreAnError() throws {
    let error = try #require(
      failure(
        """
        plan: p
        engine: test-model
        tasks:
          - name: writer
            ops: [ fsync: { path: /a } ]
          - name: writer
            ops: [ fsync: { path: /b } ]
        """))
    #expect(error.key == "tasks[1].name")
    #expect(error.location == loc(6, 11))
    #expect(error.found == "a second task 'writer' (first at t.yaml:4:11)")
  }

  @Test func aPlanNeedsAnOperation() throws {
    let empty = try #require(failure("plan: p\nengine: test-model\ntasks: []\n"))
    #expect(empty.key == "tasks")
    #expect(empty.expected == "at least one task")
    let noOps = try #require(
      failure("plan: p\nengine: test-model\ntasks:\n  - { name: w, ops: [] }\n"))
    #expect(noOps.expected == "at least one task with at least one operation")
  }

  @Test func expectationSelectorsAreChecked() throws {
    let range = try #require(failure(appending: "expect:\n  ops: { writer/2: ok }\n"))
    #expect(range.key == "expect.ops.writer/2")
    #expect(range.expected == "an op number in 1...1 (task writer has 1)")
    #expect(range.location == loc(8, 10))
    let task = try #require(failure(appending: "expect:\n  ops: { writr/fsync: ok }\n"))
    #expect(task.hint == "did you mean 'writer'?")
    let op = try #require(failure(appending: "expect:\n  ops: { writer/fsnyc: ok }\n"))
    #expect(op.hint == "did you mean 'fsync'?")
    let outcome = try #require(failure(appending: "expect:\n  ops: { fsync: okay }\n"))
    #expect(outcome.key == "expect.ops.fsync")
    #expect(outcome.hint == "did you mean 'ok'?")
    let invariant = try #require(failure(appending: "expect:\n  invariants: [no-hangs]\n"))
    #expect(invariant.key == "expect.invariants[0]")
    #expect(invariant.hint == "did you mean 'no-hang'?")
    let all = try loader.parse(minimal + "expect:\n  invariants: all\n", file: "t.yaml")
    #expect(all.expect.invariants == nil)
  }

  @Test func catchesNameDeclaredBugsAndInvariants() throws {
    let bug = try #require(failure(appending: "catches:\n  bug-b: [no-hang]\n"))
    #expect(bug.key == "catches.bug-b")
    #expect(bug.location == loc(8, 3))
    #expect(bug.hint == "did you mean 'bug-a'?")
    let invariant = try #require(
      failure(appending: "catches:\n  bug-a: [no-hang, space-balanced]\n"))
    #expect(invariant.key == "catches.bug-a[1]")
    #expect(invariant.found == "'space-balanced'")
    let planBug = try #require(failure(appending: "bugs: [bug-aa]\n"))
    #expect(planBug.key == "bugs[0]")
    #expect(planBug.hint == "did you mean 'bug-a'?")
  }

  @Test func sweepScheduleAndLimitsAreChecked() throws {
    let glob = try #require(failure(appending: "sweep: { points: [alloc.*, io.*] }\n"))
    #expect(glob.key == "sweep.points[1]")
    #expect(glob.found == "'io.*', which matches none")
    let depth = try #require(failure(appending: "sweep: { depth: 3 }\n"))
    #expect(depth.expected == "an integer in 1...2")
    let action = try #require(failure(appending: "sweep: { actions: [fial] }\n"))
    #expect(action.hint == "did you mean 'fail'?")
    let policy = try #require(failure(appending: "schedule: { policy: randon }\n"))
    #expect(policy.hint == "did you mean 'random'?")
    let choices = try #require(
      failure(appending: "schedule: { policy: fifo, choices: [writer] }\n"))
    #expect(choices.key == "schedule.choices")
    let steps = try #require(failure(appending: "limits: { steps: 0 }\n"))
    #expect(steps.key == "limits.steps")
    #expect(steps.expected == "an integer ≥ 1")
  }

  @Test func setupErrorsFromTheEngineComeThroughUnchanged() throws {
    let error = try #require(
      failure(
        "plan: p\nengine: strict-model\nsetup: { files: [] }\ntasks:\n  - { name: w, ops: [ fsync: { path: /a } ] }\n"
      ))
    #expect(error.key == "setup.device")
    #expect(error.location == loc(3, 8))
  }

  @Test func yamlSyntaxErrorHasALocation() throws {
    let error = try #require(
      failure("plan: p\nengine: test-model\ntasks:\n  - name: [w\n    ops: x\n"))
    #expect(error.expected == "well-formed YAML")
    #expect(error.location.file == "t.yaml")
    #expect(error.location.line >= 4)
    #expect(error.description.hasPrefix("t.yaml:\(error.location.line):\(error.location.column): "))
  }

  @Test func loadReadsFilesAndReportsMissingOnes() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = dir + "/p.yaml"
    try minimal.write(toFile: file, atomically: true, encoding: .utf8)
    let plan = try loader.load(file: file)
    #expect(plan.file == file)
    #expect(
      plan.tasks[0].ops[0].location == FaultKit.SourceLocation(file: file, line: 6, column: 9))

    let missing = dir + "/nope.yaml"
    let error = try #require(#expect(throws: PlanError.self) { try loader.load(file: missing) })
    #expect(error.location == FaultKit.SourceLocation(file: missing, line: 1, column: 1))
    #expect(error.found == "no such file")
    #expect(error.description.hasPrefix("\(missing):1:1: "))
  }

  @Test func planFilesFindsYAMLRecursivelyInPathOrder() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let fm = FileManager.default
    try fm.createDirectory(atPath: dir + "/b/deep", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
    for name in ["z.yaml", "b/deep/x.yml", "b/c.yaml", "a/m.YAML", "a/notes.md", "README.md"] {
      try "plan: x\n".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }
    let files = try PlanLoader.planFiles(in: [dir + "/", dir + "/z.yaml"])
    #expect(
      files == [dir + "/a/m.YAML", dir + "/b/c.yaml", dir + "/b/deep/x.yml", dir + "/z.yaml"])

    let missing = dir + "/none"
    let error = try #require(
      #expect(throws: PlanError.self) { try PlanLoader.planFiles(in: [dir, missing]) })
    #expect(error.location == FaultKit.SourceLocation(file: missing, line: 1, column: 1))
    #expect(error.description.hasPrefix("\(missing):1:1: "))
  }
}

private func temporaryDirectory() throws -> String {
  let path = NSTemporaryDirectory() + "/planloader-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}
