import Foundation
import Testing

/// Each distinct failure gets its own repro file, whatever its plan is named.
@Suite("repro file names")
struct ReproFileTests {
  static func plan(_ name: String) -> String {
    """
    plan: "\(name)"
    engine: btrfs-model
    bugs: [cow-error-leaves-pages-locked]
    setup:
      device: { blocks: 1024, block-size: 4096 }
      free-space: { run-blocks: 4 }
      files: [ { path: /a } ]
    tasks:
      - name: w
        ops:
          - write: { path: /a, offset: 0, length: 64KiB }
          - writeback: { path: /a }
    sweep: { points: [alloc.data] }
    """
  }

  @Test("names that sanitize alike and a 200-byte name: one repro file each")
  func unique() throws {
    let dir = try CLITests.scratch("repro-names")
    defer { try? FileManager.default.removeItem(at: dir) }
    // (The same name twice is refused before anything runs: PlanNameTests.)
    let names = ["x 1", "x<1", "x>1", "x_1", String(repeating: "é", count: 100)]
    var files: [String] = []
    for (i, n) in names.enumerated() {
      let f = dir.appendingPathComponent("p\(i).yaml")
      try Self.plan(n).write(to: f, atomically: true, encoding: .utf8)
      files.append(f.path)
    }
    let out = dir.appendingPathComponent("report")
    let r = try CLI.run(["sweep"] + files + ["--in-process", "--quiet", "--report-dir", out.path])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    let results = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json")))
    let plans = try #require((results as? [String: Any])?["plans"] as? [[String: Any]])
    let repros = plans.flatMap { ($0["failures"] as? [[String: Any]] ?? []).compactMap { $0["repro"] as? String } }
    #expect(repros.count == names.count, "\(repros)")
    #expect(Set(repros).count == repros.count, "two failures share a repro file: \(repros)")
    for (i, repro) in repros.enumerated() {
      let text = try String(contentsOf: out.appendingPathComponent(repro), encoding: .utf8)
      #expect(text.contains(names[i]), "\(repro) is not the repro of plan \(names[i])")
      #expect(URL(fileURLWithPath: repro).lastPathComponent.utf8.count < 128)
    }
  }
}
