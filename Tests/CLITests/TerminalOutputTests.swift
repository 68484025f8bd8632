import Foundation
import Testing

/// Plan contents are data, never terminal commands: names, paths and values with escape
/// sequences, bidi overrides and newlines print as visible `\u{…}` escapes in every command.
@Suite("terminal output escapes plan and engine strings")
struct TerminalOutputTests {
  /// ESC, BEL, CSI (U+009B), DEL, the bidi override U+202E and isolate U+2066, the line separator
  /// U+2028: none may reach the terminal raw.
  static let acting: [Unicode.Scalar] = ["\u{1B}", "\u{07}", "\u{9B}", "\u{7F}", "\u{202E}", "\u{2066}", "\u{2028}"]

  /// A plan whose name clears the screen, sets the window title and forges a PASS line; whose
  /// task name and path carry a bidi override. YAML double quotes spell the characters.
  static let plan = #"""
    plan: "x\e[2J\e]0;pwned\a\nPASS forged\u202Eevil\u0085\x7F\u2066\u2028"
    engine: btrfs-model
    setup:
      device: { blocks: 4096, block-size: 4096 }
      free-space: { run-blocks: 4 }
      files: [ { path: "/a\u202Eb\e[31m" } ]
    tasks:
      - name: "w\e[1A\u202E"
        ops:
          - write: { path: "/a\u202Eb\e[31m", offset: 0, length: 64KiB }
          - writeback: { path: "/a\u202Eb\e[31m" }
          - fsync: { path: "/a\u202Eb\e[31m" }
    faults:
      - { at: alloc.data, nth: 2, fail: ENOSPC }
    expect:
      ops: { writeback: { error: ENOSPC }, fsync: { error: any } }
    sweep: { points: [alloc.*] }
    """#

  static func clean(_ text: String, _ what: String) {
    for u in acting {
      #expect(!text.unicodeScalars.contains(u), "\(what) printed U+\(String(u.value, radix: 16)) raw")
    }
    for line in text.split(separator: "\n") {
      #expect(!line.hasPrefix("PASS forged"), "\(what) printed a forged line")
    }
  }

  @Test("run, run --bug, replay, sweep and validate print plan strings escaped")
  func escaped() throws {
    let dir = try CLITests.scratch("terminal")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("hostile.yaml")
    try Self.plan.write(to: file, atomically: true, encoding: .utf8)

    let ok = try CLI.run(["run", file.path])
    #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
    #expect(ok.stdout.contains(#"PASS x\u{1b}[2J\u{1b}]0;pwned\u{7}\u{a}PASS forged\u{202e}evil"#), "\(ok.stdout)")
    Self.clean(ok.stdout, "run")

    // A failure prints the task, the paths in evidence, diff and trace, and the repro line.
    let bad = try CLI.run(["run", file.path, "--bug", "cow-error-leaves-pages-locked"])
    #expect(bad.status == 1, "\(bad.stdout)\(bad.stderr)")
    #expect(bad.stdout.contains(#"/a\u{202e}b\u{1b}[31m"#))
    #expect(bad.stdout.contains(#"w\u{1b}[1A\u{202e}"#))
    Self.clean(bad.stdout, "run --bug")

    let replay = try CLI.run(["replay", file.path])
    #expect(replay.status == 0)
    Self.clean(replay.stdout, "replay")

    let sweep = try CLI.run([
      "sweep", file.path, "--bug", "cow-error-leaves-pages-locked", "--in-process", "--quiet", "--report-dir",
      dir.appendingPathComponent("report").path,
    ])
    #expect(sweep.status == 1, "\(sweep.stdout)\(sweep.stderr)")
    Self.clean(sweep.stdout, "sweep")

    let v = try CLI.run(["validate", file.path])
    #expect(v.status == 0)
    Self.clean(v.stdout, "validate")

    // An error quoting what the plan wrote: the value found is escaped too.
    let wrong = Self.plan.replacingOccurrences(of: "engine: btrfs-model", with: #"engine: "btrfs\e[2J\u202Emodel""#)
    try wrong.write(to: file, atomically: true, encoding: .utf8)
    let e = try CLI.run(["validate", file.path])
    #expect(e.status == 2)
    #expect(e.stderr.contains(#"found 'btrfs\u{1b}[2J\u{202e}model'"#), "\(e.stderr)")
    Self.clean(e.stderr, "validate's error")
  }
}
