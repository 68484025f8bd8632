import FaultKit
import Foundation
import Testing

/// The docs keep up with the code: every fault point an engine declares and every errno name a
/// plan may write is in Plans/README.md; every option of every command is in the README's
/// Commands table (on its command's row).
@Suite("docs cover what the code knows")
struct DocsCoverageTests {
  static func text(_ path: String) throws -> String {
    try String(contentsOf: CLI.root.appendingPathComponent(path), encoding: .utf8)
  }

  @Test("every fault point of every built-in engine is in Plans/README.md")
  func points() throws {
    let r = try CLI.run(["points"])
    #expect(r.status == 0)
    let names = r.stdout.split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix("  "), let first = line.split(separator: " ").first,
        first.contains(".") || first == "power-cut"
      else { return nil }
      return String(first)
    }
    #expect(names.count > 20, "\(r.stdout)")
    let doc = try Self.text("Plans/README.md")
    let missing = Set(names).filter { !doc.contains("`\($0)`") }.sorted()
    #expect(missing.isEmpty, "fault points missing from Plans/README.md: \(missing)")
  }

  @Test("every errno name a plan may write is in Plans/README.md")
  func errnos() throws {
    let doc = try Self.text("Plans/README.md")
    let missing = Errno.named.map(\.name).filter { !doc.contains("`\($0)`") }
    #expect(missing.isEmpty, "errnos missing from Plans/README.md: \(missing)")
  }

  @Test("every option of every command is on its row of the README's Commands table")
  func options() throws {
    let readme = try Self.text("README.md")
    var missing: [String] = []
    for command in ["run", "sweep", "explore", "report", "replay", "validate", "points", "engines"] {
      let help = try CLI.run([command, "--help"])
      #expect(help.status == 0)
      let options = help.stdout.split(separator: "\n").compactMap { line -> String? in
        guard line.hasPrefix("  --") else { return nil }
        return String(line.dropFirst(2).prefix { $0 != " " })
      }
      let rows = readme.split(separator: "\n").filter {
        $0.hasPrefix("| `faultline \(command) ") || $0.hasPrefix("| `faultline \(command)`")
      }
      #expect(!rows.isEmpty, "no row for \(command)")
      // Options every command takes are said once, under the table.
      for o in options where !["--engine-plugin", "--kernel", "--help"].contains(o) {
        if !rows.contains(where: { $0.contains(o) }) { missing.append("\(command) \(o)") }
      }
    }
    #expect(missing.isEmpty, "options missing from the README's Commands table: \(missing)")
    #expect(readme.contains("--engine-plugin") && readme.contains("--kernel"))
  }
}
