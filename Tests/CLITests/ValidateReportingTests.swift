import Foundation
import Testing

/// `validate` says every error of a file, each located, with a suggestion where one is near:
/// decimal sizes, a filesystem's bare name for an engine, a path nothing creates.
@Suite("validate reports every error, located, with suggestions")
struct ValidateReportingTests {
  static func validate(_ text: String, _ label: String) throws -> CLI.Output {
    let dir = try CLITests.scratch("validate-\(label)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("plan.yaml")
    try text.write(to: file, atomically: true, encoding: .utf8)
    let r = try CLI.run(["validate", file.path])
    // Errors name the file as given; the tests compare from the file name on.
    return CLI.Output(
      status: r.status, stdout: r.stdout, stderr: r.stderr.replacingOccurrences(of: dir.path + "/", with: ""))
  }

  static let threeErrors = """
    plan: three-errors
    engine: btrfs-model
    setup:
      device: { blocks: 4096, block-size: 4096 }
      files: [ { path: /a } ]
    tasks:
      - name: w
        ops:
          - write: { path: /a, offset: 0, length: 24KB, pattern: 0xA5 }
          - fsync: { path: /a }
          - writ: { path: /a }
    faults:
      - { at: alloc.dta, nth: 2, fail: ENOSPC }
    """

  @Test("three errors in one file: all three, each at its line and column, exit 2")
  func everyError() throws {
    let r = try Self.validate(Self.threeErrors, "three")
    #expect(r.status == 2)
    let lines = r.stderr.split(separator: "\n").map(String.init)
    #expect(lines.count == 3, "\(r.stderr)")
    #expect(lines.first?.hasPrefix("plan.yaml:9:47: error: tasks[0].ops[0].write.length") == true, "\(r.stderr)")
    #expect(lines.dropFirst().first?.hasPrefix("plan.yaml:11:9: error: tasks[0].ops[2]") == true, "\(r.stderr)")
    #expect(lines.last?.hasPrefix("plan.yaml:13:11: error: faults[0].at") == true, "\(r.stderr)")
    #expect(r.stderr.contains("did you mean 'write'?") && r.stderr.contains("did you mean 'alloc.data'?"))
  }

  @Test("24KB suggests 24KiB")
  func decimalSize() throws {
    let r = try Self.validate(Self.threeErrors, "size")
    #expect(r.stderr.contains("found '24KB'; did you mean '24KiB'?"), "\(r.stderr)")
  }

  @Test("engine: ext4 suggests ext4-model, and linux with fs: ext4")
  func bareFilesystemName() throws {
    let r = try Self.validate(
      """
      plan: bare
      engine: ext4
      tasks:
        - name: w
          ops:
            - fsync: { path: /a }
      """, "engine")
    #expect(r.status == 2)
    #expect(r.stderr.contains("plan.yaml:2:9: error: engine:"), "\(r.stderr)")
    #expect(
      r.stderr.contains("did you mean 'ext4-model' (the model) or 'linux' with setup: { fs: ext4 }"), "\(r.stderr)")
  }

  @Test("an operation on a path neither the setup nor an operation creates is an error at that operation")
  func uncreatedPath() throws {
    let plan = """
      plan: no-such-file
      engine: btrfs-model
      setup:
        device: { blocks: 4096, block-size: 4096 }
        files: [ { path: /a } ]
      tasks:
        - name: w
          ops:
            - write: { path: /a, offset: 0, length: 4KiB }
            - fsync: { path: /b }
      """
    let r = try Self.validate(plan, "path")
    #expect(r.status == 2)
    #expect(
      r.stderr.contains("plan.yaml:10:9: error: tasks[0].ops[1].fsync.path: expected a path the setup makes"),
      "\(r.stderr)")
    #expect(r.stderr.contains("found '/b', which nothing creates; did you mean '/a'?"), "\(r.stderr)")
    // Made by an operation of the plan, or expected to fail: fine.
    let created = plan.replacingOccurrences(
      of: "      - fsync: { path: /b }", with: "      - create: { path: /b }\n      - fsync: { path: /b }")
    #expect(created != plan)
    #expect(try Self.validate(created, "path-created").status == 0)
    let expected = plan + "\nexpect:\n  ops: { w/2: { error: ENOENT } }\n"
    let e = try Self.validate(expected, "path-expected")
    #expect(e.status == 0, "\(e.stderr)")
  }
}
