import Foundation
import Testing

@testable import FaultKit

/// Enough of an engine to load plans against.
private let boundedEngine = EngineDescriptor(
  name: "bounded-model", about: "an engine for the limits tests",
  catalog: FaultCatalog([FaultPoint("alloc.data", kind: .allocator, errnos: [.noSpace], about: "allocation")]),
  operations: [.write, .fsync], bugs: [], invariants: [.locksReleased], checkSetup: { _ in },
  make: { _ in fatalError("the loader never builds an engine") })

private let loader = PlanLoader(registry: EngineRegistry([boundedEngine]))

private func plan(op: String, engine: String = "bounded-model", name: String = "p") -> String {
  """
  plan: \(name)
  engine: \(engine)
  tasks:
    - name: w
      ops:
        - \(op)

  """
}

private func failure(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> PlanError? {
  #expect(throws: PlanError.self, sourceLocation: sourceLocation) { try loader.parse(text, file: "t.yaml") }
}

@Suite("Plans are bounded: aliases, sizes, names")
struct PlanLimitsTests {
  /// Nine levels of nine aliases each: 9^9 strings once expanded (gigabytes), 600 bytes written.
  static let bomb: String = {
    var lines = [
      "plan: bomb", "engine: bounded-model", "about:", "  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    ]
    for i in 1...9 {
      lines.append("  x\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]")
    }
    return (lines + ["tasks: [ { name: w, ops: [ { fsync: { path: /a } } ] } ]"]).joined(separator: "\n") + "\n"
  }()

  @Test("an alias bomb is refused at its first anchor, before anything expands")
  func aliasBomb() throws {
    // Expanding it took 90 s and 8 GB; refusing it takes milliseconds. 10 s holds on a loaded
    // machine and still fails long before an expansion would end.
    let start = DispatchTime.now().uptimeNanoseconds
    let error = try #require(failure(Self.bomb))
    #expect(DispatchTime.now().uptimeNanoseconds - start < 10_000_000_000)
    #expect(error.location == FaultKit.SourceLocation(file: "t.yaml", line: 4, column: 7))
    #expect(error.found == "the anchor '&a0'")
    #expect(error.expected.contains("no YAML anchors or aliases"))
  }

  @Test("an alias is refused at its place even where its anchor was allowed to parse")
  func alias() throws {
    let error = try #require(failure("plan: p\nengine: bounded-model\ntasks: *t\n"))
    #expect(error.location == FaultKit.SourceLocation(file: "t.yaml", line: 3, column: 8))
    #expect(error.found == "the alias '*t'")
  }

  @Test("a string over 64 KiB, nesting over 64 levels and a plan over 4 MiB are errors with a place")
  func sizes() throws {
    let long = String(repeating: "x", count: PlanLimits.stringBytes + 1)
    let s = try #require(failure("plan: p\nengine: bounded-model\nabout: \(long)\n"))
    #expect(s.location == FaultKit.SourceLocation(file: "t.yaml", line: 3, column: 8))
    #expect(s.found == "one of \(PlanLimits.stringBytes + 1) bytes")

    let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
    let d = try #require(failure("plan: p\nabout: \(deep)\n"))
    #expect(d.location == FaultKit.SourceLocation(file: "t.yaml", line: 2, column: 8 + 63))
    #expect(d.expected == "at most 64 levels of nested mappings and lists")

    let big = "# " + String(repeating: "y", count: PlanLimits.fileBytes) + "\n"
    let f = try #require(failure(big))
    #expect(f.location == FaultKit.SourceLocation(file: "t.yaml", line: 1, column: 1))
    #expect(f.expected == "a plan of at most 4 MiB")
  }

  @Test("a plan file over 4 MiB is refused before it is read; so is a file that is not a regular file")
  func files() throws {
    let dir = NSTemporaryDirectory() + "/planlimits-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/big.yaml"
    #expect(FileManager.default.createFile(atPath: path, contents: nil))
    #expect(truncate(path, off_t(PlanLimits.fileBytes + 1)) == 0)
    let e = try #require(#expect(throws: PlanError.self) { try loader.load(file: path) })
    #expect(e.description.hasPrefix("\(path):1:1: error: plan: expected a plan file of at most 4 MiB"))
    let dev = try #require(#expect(throws: PlanError.self) { try loader.load(file: "/dev/zero") })
    #expect(dev.found == "a special file (a device, FIFO or socket)")
  }

  @Test("plan and task names over 200 bytes are refused where they are written")
  func names() throws {
    let long = String(repeating: "n", count: PlanLimits.nameBytes + 1)
    let p = try #require(failure(plan(op: "fsync: { path: /a }", name: long)))
    #expect(p.key == "plan")
    #expect(p.location == FaultKit.SourceLocation(file: "t.yaml", line: 1, column: 7))
    let t = try #require(
      failure(plan(op: "fsync: { path: /a }").replacingOccurrences(of: "name: w", with: "name: \(long)")))
    #expect(t.key == "tasks[0].name")
    #expect(
      try loader.parse(plan(op: "fsync: { path: /a }", name: String(repeating: "n", count: 200)), file: "t.yaml")
        .name.count == 200)
  }
}
