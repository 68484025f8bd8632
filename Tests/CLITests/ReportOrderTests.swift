import FaultKit
import Foundation
import Testing

/// The terminal and report.html list a run's failures in one order with one numbering (bugs,
/// then unjudged, then expected); the page can hide the expected ones; ext2fs pictures show the
/// plan's files first and no lanes for state ext2fs does not keep.
@Suite("report order, filter and pictures", .serialized)
struct ReportOrderTests {
  static let fixture = "Tests/Fixtures/ext2fs-expected.yaml"

  /// A sweep of the fixture: one bug and one expected finding.
  static func sweep(_ dir: URL) throws -> CLI.Output {
    try CLI.run(["sweep", fixture, "--in-process", "--quiet", "--report-dir", dir.path])
  }

  /// The numbers and headline words of the articles, in page order.
  static func articles(_ html: String) -> [(number: Int, expected: Bool)] {
    html.components(separatedBy: "<article class=\"failure\" id=\"failure-").dropFirst().map { a in
      (Int(a.prefix { $0.isNumber }) ?? -1, a.prefix(while: { $0 != ">" }).contains("data-expected=\"yes\""))
    }
  }

  @Test("the terminal numbers the expected finding after the bug, as report.html does")
  func sameNumbers() throws {
    let dir = try CLITests.scratch("order")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try Self.sweep(dir)
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    let groups = results.plans.flatMap(\.failures)
    try #require(groups.contains { $0.expected } && groups.contains { !$0.expected }, "\(r.stdout)")
    // Terminal: "1. <bug>" then the expected one numbered 2.
    #expect(r.stdout.contains("\n1. error-path-consistent"), "\(r.stdout)")
    #expect(r.stdout.contains("\n2. 2x ext2fs-expected-fixture: io.write#4 fail: EIO"), "\(r.stdout)")
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(Self.articles(html).map(\.number) == [1, 2])
    #expect(Self.articles(html).map(\.expected) == [false, true])
  }

  @Test("report.html opens on the first bug even when the space met an expected finding first")
  func bugsFirst() throws {
    let dir = try CLITests.scratch("order-regen")
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try Self.sweep(dir)
    // As a sweep that met the expected finding first writes it: expected first in results.json.
    let file = dir.appendingPathComponent("results.json")
    var json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
    var plans = try #require(json["plans"] as? [[String: Any]])
    var failures = try #require(plans[0]["failures"] as? [[String: Any]])
    failures.sort { (($0["expected"] as? Bool) ?? false) && !(($1["expected"] as? Bool) ?? false) }
    #expect((failures.first?["expected"] as? Bool) == true)
    plans[0]["failures"] = failures
    json["plans"] = plans
    try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: file)
    let regen = try CLI.run(["report", dir.path, "--html"])
    #expect(regen.status == 0, "\(regen.stdout)\(regen.stderr)")
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    #expect(Self.articles(html).map(\.expected) == [false, true])
    #expect(Self.articles(html).map(\.number) == [1, 2])
  }

  @Test(
    "report.html hides the expected findings with its checkbox (report.html#hide-expected), without a server",
    .enabled(if: Tools.enabled))
  func hideExpected() throws {
    let dir = try CLITests.scratch("hide-expected")
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try Self.sweep(dir)
    let file = dir.appendingPathComponent("report.html")
    let html = try String(contentsOf: file, encoding: .utf8)
    #expect(html.contains("id=\"f-hide-expected\""))
    let shown = try Tools.chromium(file)
    #expect(shown.status == 0, "chromium: \(shown.stderr)")
    #expect(shown.stdout.contains("2 of 2 failure(s) shown"), "\(shown.stdout.suffix(2000))")
    var url = URLComponents(url: file, resolvingAgainstBaseURL: false)!
    url.fragment = "hide-expected"
    let hidden = try Tools.chromium(url.url!)
    #expect(hidden.status == 0, "chromium: \(hidden.stderr)")
    let console = hidden.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
    #expect(console.isEmpty, "console: \(console)")
    #expect(hidden.stdout.contains("1 of 2 failure(s) shown"), "\(hidden.stdout.suffix(2000))")
    // The expected article is hidden, the bug is not.
    let articles = hidden.stdout.components(separatedBy: "<article ").dropFirst().map { $0.prefix { $0 != ">" } }
    #expect(articles.count == 2)
    for a in articles {
      #expect(a.contains("data-expected=\"yes\"") == a.contains(" hidden"), "\(a)")
    }
  }

  @Test("ext2fs pictures: the plan's file first, no lanes for state ext2fs does not keep")
  func ext2fsPictures() throws {
    let dir = try CLITests.scratch("ext2fs-pictures")
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try CLI.run([
      "sweep", "Plans/ext2fs/fallocate-modes.yaml", "--points", "io.write", "--depth", "1", "--in-process", "--quiet",
      "--report-dir", dir.path,
    ])
    let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
    let first = try #require(html.components(separatedBy: "<section class=\"pictures\">").dropFirst().first)
    let files = first.components(separatedBy: "class=\"file\">").dropFirst().map { String($0.prefix { $0 != "<" }) }
    try #require(!files.isEmpty, "no pictures")
    #expect(!files[0].hasPrefix("/.") && files[0] != "/lost+found", "first picture: \(files)")
    let svgs = try #require(first.components(separatedBy: "<div class=\"svgs\">").dropFirst().first)
    let picture = svgs.components(separatedBy: "</svg>")[0]
    #expect(picture.contains(">tree</text>"))
    for lane in ["cache", "delalloc", "ordered", "locks", "pages"] {
      #expect(!picture.contains(">\(lane)</text>"), "an empty \(lane) lane is drawn")
    }
  }
}
