import Foundation
import Testing

@testable import FaultKit

/// An engine whose files may be 16 MiB at most, as a 4096-block device of 4 KiB would say.
private let boundedEngine = EngineDescriptor(
  name: "bounded-model", about: "an engine that says how large a file may be",
  catalog: FaultCatalog([FaultPoint("alloc.data", kind: .allocator, errnos: [.noSpace], about: "allocation")]),
  operations: [.write, .read, .truncate, .append, .migratePage, .fsync], bugs: [], invariants: [.locksReleased],
  checkSetup: { _ in }, maxFileSize: { _ in 16 << 20 }, make: { _ in fatalError("the loader never builds an engine") })

/// The same engine, saying nothing about file sizes (a plugin).
private let silentEngine = EngineDescriptor(
  name: "silent-model", about: "an engine that does not say how large a file may be",
  catalog: FaultCatalog([]), operations: [.write, .read], bugs: [], invariants: [], checkSetup: { _ in },
  make: { _ in fatalError("the loader never builds an engine") })

private let loader = PlanLoader(registry: EngineRegistry([boundedEngine, silentEngine]))

private func plan(op: String, engine: String = "bounded-model") -> String {
  """
  plan: p
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

/// Sizes checked against the device when a plan is loaded (`OperationRange`).
@Suite("Operation ranges are checked against the device at load")
struct OperationRangeLoadTests {
  @Test(
    "ranges past the largest file the device holds are errors at the offending value",
    arguments: [
      (
        "write: { path: /a, offset: 0, length: 1TiB }", "tasks[0].ops[0].write.length", 6, 47,
        "offset 0 + length 1024GiB"
      ),
      (
        "write: { path: /a, offset: 16MiB, length: 1 }", "tasks[0].ops[0].write.length", 6, 51,
        "offset 16MiB + length 1"
      ),
      (
        "write: { path: /a, offset: 18446744073709551615, length: 4096 }", "tasks[0].ops[0].write.offset", 6, 36,
        "offset 18446744073709551615 + length 4KiB, whose end does not fit in 64 bits"
      ),
      ("read: { path: /a, offset: 32MiB }", "tasks[0].ops[0].read.offset", 6, 35, "offset 32MiB"),
      ("truncate: { path: /a, size: 17MiB }", "tasks[0].ops[0].truncate.size", 6, 37, "size 17MiB"),
      ("append: { path: /a, length: 2GiB }", "tasks[0].ops[0].append.length", 6, 37, "length 2GiB"),
      ("migrate-page: { path: /a, offset: 16MiB }", "tasks[0].ops[0].migrate-page.offset", 6, 43, "offset 16MiB"),
    ])
  func ranges(_ op: String, _ key: String, _ line: Int, _ column: Int, _ found: String) throws {
    let e = try #require(failure(plan(op: op)))
    #expect(e.key == key)
    #expect(e.location == FaultKit.SourceLocation(file: "t.yaml", line: line, column: column))
    #expect(e.found == found)
    #expect(e.expected == "a range that ends within 16MiB, the largest file the setup's device holds")
  }

  @Test("the last byte of the device is fine; without a device size only 64 bits bound a range")
  func bounds() throws {
    _ = try loader.parse(plan(op: "write: { path: /a, offset: 16MiB, length: 0 }"), file: "t.yaml")
    _ = try loader.parse(plan(op: "write: { path: /a, offset: 12MiB, length: 4MiB }"), file: "t.yaml")
    _ = try loader.parse(
      plan(op: "write: { path: /a, offset: 1TiB, length: 4KiB }", engine: "silent-model"), file: "t.yaml")
    let e = try #require(
      failure(plan(op: "write: { path: /a, offset: 9223372036854775807, length: 1 }", engine: "silent-model")))
    #expect(e.expected == "a range that ends below 2^63 bytes")
    #expect(
      OperationRange.refusal(Operation(.write, path: "/a", offset: .max, length: .max), maxFileSize: nil)?.errno
        == .invalid)
    #expect(
      OperationRange.refusal(Operation(.write, path: "/a", offset: 0, length: 1 << 40), maxFileSize: 1 << 20)?.errno
        == .fileTooLarge)
    #expect(
      OperationRange.refusal(Operation(.read, path: "/a", offset: 1 << 40), maxFileSize: 1 << 20)?.errno == .invalid)
  }
}
