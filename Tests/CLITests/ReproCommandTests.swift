import FaultKit
import Foundation
import Testing

/// Every reproduce command faultline prints — the terminal's, report.html's, junit.xml's — taken
/// from a real run and pasted into a shell, from the directory the run was started in and from
/// another: it must fail again, with the same violated invariants.
@Suite("printed reproduce commands reproduce", .serialized)
struct ReproCommandTests {
  static let cow = "Plans/btrfs/cow-enospc-second-iteration.yaml"

  /// The command run by /bin/sh from `cwd`, as a user pasting it does.
  static func paste(_ command: String, from cwd: URL) throws -> CLI.Output {
    try CLI.spawn(URL(fileURLWithPath: "/bin/sh"), ["-c", command], directory: cwd)
  }

  /// The `violated: …` line of a failure's text, as a set of invariant names.
  static func violated(_ text: String) -> Set<String> {
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("violated: ") }) else { return [] }
    return Set(line.dropFirst("violated: ".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
  }

  static func unescape(_ s: String) -> String {
    s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
      .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
      .replacingOccurrences(of: "&amp;", with: "&")
  }

  /// The text after `prefix` on every line that has it (a suffix in parentheses dropped).
  static func lines(_ text: String, after prefix: String) -> [String] {
    text.split(separator: "\n").compactMap { l -> String? in
      guard let r = l.range(of: prefix) else { return nil }
      var c = String(l[r.upperBound...])
      if let p = c.range(of: " (shrunk from ") { c = String(c[..<p.lowerBound]) }
      return c
    }
  }

  /// Pastes each command from the repository (where the run was started) and from `/`; each must
  /// exit 1 violating `expected`.
  static func expectReproduces(_ commands: [String], _ expected: Set<String>, _ what: String) throws {
    #expect(!commands.isEmpty, "\(what): no command printed")
    for c in commands {
      for cwd in [CLI.root, URL(fileURLWithPath: "/")] {
        let r = try paste(c, from: cwd)
        #expect(r.status == 1, "\(what) from \(cwd.path): \(c)\n\(r.stdout)\(r.stderr)")
        #expect(violated(r.stdout) == expected, "\(what) from \(cwd.path): \(c)\n\(r.stdout)")
      }
    }
  }

  /// A sweep with failures: the terminal's repro lines, report.html's and junit.xml's.
  static func sweepCommands(_ args: [String], reportDir: String) throws -> (RunResults, [String: [String]]) {
    let out = try CLI.run(["sweep"] + args + ["--depth", "1", "--jobs", "2", "--report-dir", reportDir, "--quiet"])
    #expect(out.status == 1, "\(out.stdout)\(out.stderr)")
    let dir = reportDir.hasPrefix("/") ? URL(fileURLWithPath: reportDir) : CLI.root.appendingPathComponent(reportDir)
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    var commands = try reportCommands(dir)
    commands["terminal"] = lines(out.stdout, after: "   repro: ")
    return (results, commands)
  }

  /// report.html's and junit.xml's reproduce commands.
  static func reportCommands(_ dir: URL) throws -> [String: [String]] {
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    let junit = try String(contentsOf: dir.appendingPathComponent("junit.xml"), encoding: .utf8)
    var htmlCommands: [String] = []
    var rest = html[...]
    while let a = rest.range(of: "repro: <code>"), let b = rest[a.upperBound...].range(of: "</code>") {
      htmlCommands.append(unescape(String(rest[a.upperBound..<b.lowerBound])))
      rest = rest[b.upperBound...]
    }
    return ["report.html": htmlCommands, "junit.xml": lines(junit, after: "reproduce: ").map(unescape)]
  }

  @Test(
    "a sweep's repro commands (terminal, report.html, junit.xml) fail again when pasted, its report folder given relative"
  )
  func sweepCommands() throws {
    let relative = ".build/faultline-repro-\(getpid())"
    defer { try? FileManager.default.removeItem(at: CLI.root.appendingPathComponent(relative)) }
    let (results, commands) = try Self.sweepCommands(
      [Self.cow, "--bug", "cow-error-leaves-pages-locked"], reportDir: relative)
    let failures = results.plans.flatMap(\.failures)
    #expect(failures.count == 1)
    let f = try #require(failures.first)
    for (what, list) in commands.sorted(by: { $0.key < $1.key }) {
      #expect(list.count == failures.count, "\(what): \(list)")
      try Self.expectReproduces(list, Set(f.invariants), what)
    }
  }

  @Test("run prints a command that fails again; run --schedules N prints one per failure that runs its schedule")
  func runCommands() throws {
    let plain = try CLI.run(["run", Self.cow, "--bug", "cow-error-leaks-ordered-extents"])
    #expect(plain.status == 1)
    try Self.expectReproduces(
      Self.lines(plain.stdout, after: "reproduce: "), Self.violated(plain.stdout), "run")
    // Passes as written (fifo); every random schedule opens the window and fails.
    let fixture = "Tests/Fixtures/schedule-window.yaml"
    let written = try CLI.run(["run", fixture, "--bug", "fixup-page-cleaned-before-worker"])
    #expect(written.status == 0, "\(written.stdout)")
    let dir = try CLITests.scratch("repro-run")
    defer { try? FileManager.default.removeItem(at: dir) }
    let scheduled = try CLI.run([
      "run", fixture, "--bug", "fixup-page-cleaned-before-worker", "--schedules", "4", "--report-dir", dir.path,
    ])
    #expect(scheduled.status == 1, "\(scheduled.stdout)")
    let commands = Self.lines(scheduled.stdout, after: "reproduce: ")
    #expect(commands.allSatisfy { $0.contains("--schedule-seed ") })
    try Self.expectReproduces(commands, Self.violated(scheduled.stdout), "run --schedules")
    // Its report.html and junit.xml say the same commands.
    for (what, list) in try Self.reportCommands(dir).sorted(by: { $0.key < $1.key }) {
      #expect(list == commands, "\(what)")
      try Self.expectReproduces(list, Self.violated(scheduled.stdout), "run --schedules, \(what)")
    }
  }

  @Test("a C plugin's failures: run's and the sweep's commands load the plugin, by absolute path, and fail again")
  func pluginCommands() throws {
    let dir = try CLITests.scratch("repro-plugin")
    defer { try? FileManager.default.removeItem(at: dir) }
    let so = dir.appendingPathComponent("toy.so")
    try PluginTests.compile([CLI.root.appendingPathComponent("Examples/c-engine/toy_engine.c").path], so)
    // Given relative to where the run starts: the commands must still find it from elsewhere.
    let relativeSO = ".build/faultline-repro-toy-\(getpid()).so"
    try? FileManager.default.removeItem(at: CLI.root.appendingPathComponent(relativeSO))
    try FileManager.default.copyItem(at: so, to: CLI.root.appendingPathComponent(relativeSO))
    defer { try? FileManager.default.removeItem(at: CLI.root.appendingPathComponent(relativeSO)) }
    let plugin = ["--engine-plugin", relativeSO]
    let bug = ["--bug", "write-error-keeps-inode-lock"]
    let run = try CLI.run(["run"] + plugin + [PluginTests.plans] + bug)
    #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
    let runCommands = Self.lines(run.stdout, after: "reproduce: ")
    #expect(runCommands.allSatisfy { $0.contains("--engine-plugin /") })
    try Self.expectReproduces(runCommands, Self.violated(run.stdout), "C plugin run")
    let (results, commands) = try Self.sweepCommands(
      plugin + [PluginTests.plans] + bug, reportDir: dir.appendingPathComponent("s").path)
    #expect(results.engineOptions == ["--engine-plugin", CLI.root.appendingPathComponent(relativeSO).path])
    let f = try #require(results.plans.flatMap(\.failures).first)
    for (what, list) in commands.sorted(by: { $0.key < $1.key }) {
      #expect(list.allSatisfy { $0.contains("--engine-plugin /") }, "\(what): \(list)")
      // The toy engine's failures all violate the same invariant.
      try Self.expectReproduces(Array(list.prefix(2)), Set(f.invariants), "C plugin sweep, \(what)")
    }
  }
}
