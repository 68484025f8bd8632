import Foundation
import Testing

/// Input that would take the machine or an engine down is bad input: exit 2, where it is, fast.
@Suite("bounded input")
struct BoundedInputTests {
  static func plan(setup: String = "{ files: [ { path: /a } ] }", op: String, name: String = "bounded") -> String {
    """
    plan: \(name)
    engine: btrfs-model
    setup: \(setup)
    tasks:
      - name: w
        ops:
          - \(op)
    """
  }

  @Test("an alias bomb, impossible sizes and an overlong name: exit 2 at their place, in seconds")
  func refused() throws {
    let dir = try CLITests.scratch("bounded")
    defer { try? FileManager.default.removeItem(at: dir) }
    var bomb = [
      "plan: bomb", "engine: btrfs-model", "setup:", "  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    ]
    for i in 1...9 {
      bomb.append("  x\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]")
    }
    bomb.append("tasks: [ { name: w, ops: [ { fsync: { path: /a } } ] } ]")
    let cases: [(name: String, text: String, at: String, says: String)] = [
      ("bomb", bomb.joined(separator: "\n") + "\n", ":4:7: error", "the anchor '&a0'"),
      (
        "overflow", Self.plan(op: "write: { path: /a, offset: 18446744073709551615, length: 4096 }"),
        ":7:36: error: tasks[0].ops[0].write.offset", "whose end does not fit in 64 bits"
      ),
      (
        "terabyte", Self.plan(op: "write: { path: /a, offset: 0, length: 1TiB }"),
        ":7:47: error: tasks[0].ops[0].write.length", "ends within 16MiB"
      ),
      (
        "setup-file", Self.plan(setup: "{ files: [ { path: /a, size: 900GiB } ] }", op: "fsync: { path: /a }"),
        ":3:37: error: setup.files[0].size", "found 900GiB"
      ),
      (
        // 240 data blocks in runs of 1 free, 1 used: 120 free, 480 KiB, not the data area's 960.
        "fragmented-setup",
        Self.plan(
          setup:
            "{ device: { blocks: 256, block-size: 4KiB }, free-space: { run-blocks: 1 }, files: [ { path: /a, size: 600KiB } ] }",
          op: "fsync: { path: /a }"),
        ":3:",
        "setup.files[0].size: expected at most 480KiB, what the device's free space (120 blocks of 4KiB in runs of 1)"
      ),
      (
        "device", Self.plan(setup: "{ device: { blocks: 16777216, block-size: 64KiB } }", op: "fsync: { path: /a }"),
        ":3:18: error: setup.device", "a device of at most 1GiB"
      ),
      (
        "name", Self.plan(op: "fsync: { path: /a }", name: String(repeating: "n", count: 240)),
        ":1:7: error: plan: expected a name of at most 200 bytes", "found one of 240"
      ),
    ]
    for c in cases {
      let file = dir.appendingPathComponent("\(c.name).yaml")
      try c.text.write(to: file, atomically: true, encoding: .utf8)
      for command in ["validate", "run"] {
        let start = Date()
        let r = try CLI.run([command, file.path])
        #expect(Date().timeIntervalSince(start) < 10, "\(c.name): \(command) took too long")
        #expect(r.status == 2, "\(c.name): \(command) exited \(r.status): \(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains(file.path + c.at), "\(c.name): \(r.stderr)")
        #expect(r.stderr.contains(c.says), "\(c.name): \(r.stderr)")
      }
    }
  }
}
