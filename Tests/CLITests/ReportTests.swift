import FaultKit
import Foundation
import Testing

/// External tools the report checks use: a real JUnit consumer (PyPI junitparser, in the Python
/// scripts/test prepares), xmllint and headless Chromium. scripts/test installs them and sets
/// FAULTLINE_REPORT_TOOLS=1, which makes their absence a failure rather than a skip.
enum Tools {
  static let required = ProcessInfo.processInfo.environment["FAULTLINE_REPORT_TOOLS"] == "1"
  static let python = ProcessInfo.processInfo.environment["FAULTLINE_PYTHON"] ?? "python3"
  static var available: Bool {
    which("xmllint") != nil && which("chromium") != nil
      && (try? sh([python, "-c", "import junitparser"]).status) == 0
  }
  static var enabled: Bool { required || available }

  static func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
      let p = "\(dir)/\(name)"
      if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
  }

  /// Runs a command found on PATH.
  static func sh(_ args: [String]) throws -> CLI.Output {
    try CLI.spawn(URL(fileURLWithPath: "/usr/bin/env"), args)
  }

  /// The page as headless Chromium leaves it after its scripts ran, and what it logged.
  static func chromium(_ file: URL) throws -> CLI.Output {
    try sh([
      "timeout", "120", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
      "--window-size=1280,800",
      "--dump-dom", file.absoluteString,
    ])
  }
}

@Suite("reports", .serialized)
struct ReportTests {
  static let hostile = "Tests/Fixtures/hostile.yaml"
  static let hostileName = "<script>alert(1)</script> & \"quoted\" 'x' \u{1} ]]> end"

  static func sweep(_ dir: URL, jobs: Int = 1) throws -> (CLI.Output, RunResults) {
    let r = try CLI.run([
      "sweep", hostile, "Plans/btrfs/cow-enospc-second-iteration.yaml", "--bug", "cow-error-leaves-pages-locked",
      "--quiet", "--jobs", "\(jobs)", "--report-dir", dir.path,
    ])
    return (r, try RunResults.read(dir.appendingPathComponent("results.json")))
  }

  @Test("a sweep writes results.json, junit.xml and report.html, the same bytes with one job or two")
  func sweepWritesReports() throws {
    let a = try CLITests.scratch("reports-a")
    let b = try CLITests.scratch("reports-b")
    defer { for d in [a, b] { try? FileManager.default.removeItem(at: d) } }
    let (out, results) = try Self.sweep(a)
    #expect(out.status == 1, "failures found: \(out.stdout)\(out.stderr)")
    #expect(results.schema == RunResults.currentSchema)
    #expect(results.plans.map(\.plan) == ["cow-enospc-second-iteration", Self.hostileName])
    #expect(results.failed > 0 && results.distinctFailures == 2)
    for p in results.plans {
      #expect(p.scenarios.count == p.ran && p.failures.allSatisfy { $0.repro != nil && $0.result?.atRest != nil })
      #expect(p.failures.reduce(0) { $0 + $1.count } == p.scenarios.filter { $0.outcome != .passed }.count)
    }
    // Coverage: the failing point fired and failed with its errno; points no plan reaches are named.
    let btrfs = try #require(results.engines.first { $0.name == "btrfs-model" })
    let alloc = try #require(btrfs.coverage.first { $0.point == "alloc.data" })
    #expect(alloc.reached > 0 && alloc.fired > 0 && alloc.failed > 0 && alloc.errnos == ["ENOSPC"])
    #expect(btrfs.unreached.contains("io.read"))
    #expect(out.stdout.contains("reached by no plan: io.read"))
    // The terminal shows the control character visibly and names the repro.
    #expect(out.stdout.contains("\\u{1}") && !out.stdout.contains("\u{1}"))
    // The repro command names the repro file by absolute path (ReproCommandTests pastes it).
    #expect(out.stdout.contains(" replay \(a.path)/repro/"))

    let (_, _) = try Self.sweep(b, jobs: 2)
    for name in ["results.json", "junit.xml", "report.html"] {
      let x = try Data(contentsOf: a.appendingPathComponent(name))
      // The reports' repro commands name their own folder; nothing else differs.
      let y = try String(contentsOf: b.appendingPathComponent(name), encoding: .utf8)
        .replacingOccurrences(of: b.path, with: a.path)
      #expect(x == Data(y.utf8), "\(name) differs between --jobs 1 and --jobs 2")
    }
    // Regenerated from results.json alone: the same bytes.
    let c = try CLITests.scratch("reports-c")
    defer { try? FileManager.default.removeItem(at: c) }
    let regen = try CLI.run(["report", a.path, "--html", "--junit", "--report-dir", c.path])
    #expect(regen.status == 0, "\(regen.stdout)\(regen.stderr)")
    for name in ["junit.xml", "report.html"] {
      #expect(try Data(contentsOf: a.appendingPathComponent(name)) == Data(contentsOf: c.appendingPathComponent(name)))
    }
  }

  @Test("junit.xml passes xmllint and a real JUnit parser, with the hostile name escaped", .enabled(if: Tools.enabled))
  func junitIsValid() throws {
    let dir = try CLITests.scratch("junit")
    defer { try? FileManager.default.removeItem(at: dir) }
    let (_, results) = try Self.sweep(dir)
    let file = dir.appendingPathComponent("junit.xml")
    let lint = try Tools.sh(["xmllint", "--noout", file.path])
    #expect(lint.status == 0, "xmllint: \(lint.stderr)")
    let text = try String(contentsOf: file, encoding: .utf8)
    #expect(!text.contains("<script>") && text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    // junitparser reads it back: suites, cases, failures and the first failure's message.
    let script = """
      import sys
      from junitparser import JUnitXml, Failure, Error
      xml = JUnitXml.fromfile(sys.argv[1])
      for s in xml:
          cases = list(s)
          bad = [c for c in cases if any(isinstance(r, (Failure, Error)) for r in c.result)]
          msg = next((r.message for c in bad for r in c.result), "")
          print("%s\\t%d\\t%d\\t%s" % (s.name, len(cases), len(bad), msg))
      """
    let parsed = try Tools.sh([Tools.python, "-c", script, file.path])
    #expect(parsed.status == 0, "junitparser: \(parsed.stderr)")
    let rows = parsed.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
    #expect(rows.count == results.plans.count)
    for (row, p) in zip(rows, results.plans) {
      #expect(row.count == 4)
      guard row.count == 4 else { continue }
      #expect(String(row[0]) == p.plan.replacingOccurrences(of: "\u{1}", with: "\\u{1}"))
      #expect(Int(row[1]) == p.failures.count + (p.passed > 0 ? 1 : 0))
      #expect(Int(row[2]) == p.failures.count)
      // The message leads with the invariant, then the fault.
      #expect(String(row[3]).hasPrefix("delalloc-backed, locks-released, no-hang after alloc.data#2 fail: ENOSPC"))
    }
  }

  @Test(
    "report.html loads in headless Chromium with no console output; its failure count is results.json's",
    .enabled(if: Tools.enabled))
  func htmlInBrowser() throws {
    let dir = try CLITests.scratch("html")
    defer { try? FileManager.default.removeItem(at: dir) }
    let (_, results) = try Self.sweep(dir)
    let page = try Tools.chromium(dir.appendingPathComponent("report.html"))
    #expect(page.status == 0, "chromium: \(page.stderr)")
    let console = page.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
    #expect(console.isEmpty, "console: \(console)")
    #expect(page.stdout.contains("data-ready=\"yes\""), "the page's script did not run to its end")
    #expect(page.stdout.contains("data-failed-scenarios=\"\(results.failed)\""))
    #expect(page.stdout.contains("id=\"failure-count\">\(results.failed)<"))
    // A 1280×800 first screen shows the first failure's invariant, fault and diff.
    #expect(page.stdout.contains("data-first-screen=\".inv .fault .diff-at-rest\""))
    // The hostile name is text in the DOM, never an element; no image with an onerror.
    #expect(!page.stdout.contains("<script>alert(1)") && page.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(!page.stdout.contains("<img"))
    // Pictures: an inline SVG per file, with the leaked page locks drawn.
    #expect(page.stdout.contains("<svg") && page.stdout.contains("class=\"pg-locked\""))
    // No network: nothing in the page loads from elsewhere.
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(!html.contains("src=") && !html.contains("<link"))
  }

  @Test("report --compare names new and fixed failures, marks them in report.html, exits 1 on new")
  func compare() throws {
    let buggy = try CLITests.scratch("cmp-buggy")
    let fixed = try CLITests.scratch("cmp-fixed")
    defer { for d in [buggy, fixed] { try? FileManager.default.removeItem(at: d) } }
    let plan = "Plans/btrfs/cow-enospc-second-iteration.yaml"
    _ = try CLI.run([
      "sweep", plan, "--bug", "cow-error-leaves-pages-locked", "--quiet", "--in-process", "--report-dir", buggy.path,
    ])
    _ = try CLI.run(["sweep", plan, "--quiet", "--in-process", "--report-dir", fixed.path])
    let new = try CLI.run(["report", buggy.path, "--html", "--compare", fixed.path])
    #expect(new.status == 1 && new.stdout.contains("new: 1\n  cow-enospc-second-iteration: delalloc-backed@rest"))
    let html = try String(contentsOf: buggy.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(html.contains("<span class=\"badge\">new</span>") && html.contains("<h3>New: 1</h3>"))
    let gone = try CLI.run(["report", fixed.path, "--compare", buggy.path])
    #expect(gone.status == 0 && gone.stdout.contains("new: 0") && gone.stdout.contains("fixed: 1"))
  }

  @Test("run --report-dir writes the same three files for a plan run once")
  func runWritesReports() throws {
    let dir = try CLITests.scratch("run-reports")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try CLI.run([
      "run", "Plans/btrfs/cow-enospc-second-iteration.yaml", "--bug", "cow-error-leaks-ordered-extents",
      "--report-dir", dir.path,
    ])
    #expect(r.status == 1)
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    #expect(results.command == "run" && results.scenarios == 1 && results.failed == 1)
    let f = try #require(results.plans.first?.failures.first)
    #expect(f.invariants.contains("ordered-extents-complete"))
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("junit.xml").path))
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))
  }

  @Test("report refuses results of another schema and merges of different runs: exit 2, said where")
  func badResults() throws {
    let dir = try CLITests.scratch("bad-results")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("results.json")
    try Data(#"{"schema":"faultline-results/0","plans":[]}"#.utf8).write(to: file)
    let r = try CLI.run(["report", file.path])
    #expect(r.status == 2)
    #expect(r.stderr.contains("\(file.path): schema \"faultline-results/0\", expected \"faultline-results/1\""))
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))
    let one = try CLITests.scratch("bad-merge-1")
    let two = try CLITests.scratch("bad-merge-2")
    defer { for d in [one, two] { try? FileManager.default.removeItem(at: d) } }
    _ = try CLI.run(["sweep", "Plans/xfs/writeback-eio.yaml", "--quiet", "--in-process", "--report-dir", one.path])
    _ = try CLI.run(["sweep", Self.hostile, "--quiet", "--in-process", "--report-dir", two.path])
    let m = try CLI.run(["report", "--merge", one.path, two.path, "--report-dir", dir.appendingPathComponent("m").path])
    #expect(m.status == 2 && m.stderr.contains("different plans"), "\(m.stderr)")
  }
}
