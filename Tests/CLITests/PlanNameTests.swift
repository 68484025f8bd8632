import FaultKit
import Foundation
import Testing

/// A plan's name keys its results, JUnit testsuite, repro files, comparisons and known failures,
/// so the plans run together must have different names.
@Suite("plan names are unique in a set")
struct PlanNameTests {
  /// `a/x.yaml` and `b/x.yaml`, both `plan: same` (the seed plan under another name), and `c/y.yaml`
  /// (`plan: other`).
  static func set(_ name: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-names-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    let seed = try String(
      contentsOf: CLI.root.appendingPathComponent("Plans/btrfs/cow-enospc-second-iteration.yaml"), encoding: .utf8)
    for (file, plan) in [("a/x.yaml", "same"), ("b/x.yaml", "same"), ("c/y.yaml", "other")] {
      let url = dir.appendingPathComponent(file)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try seed.replacingOccurrences(of: "\nplan: cow-enospc-second-iteration\n", with: "\nplan: \(plan)\n")
        .write(to: url, atomically: true, encoding: .utf8)
    }
    return dir
  }

  @Test("validate, run and sweep refuse two plans of one name: exit 2, both places said, nothing written")
  func duplicateRefused() throws {
    let dir = try Self.set("dup")
    defer { try? FileManager.default.removeItem(at: dir) }
    let seed = try String(
      contentsOf: CLI.root.appendingPathComponent("Plans/btrfs/cow-enospc-second-iteration.yaml"), encoding: .utf8)
    let line = seed.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("plan:") }! + 1
    let a = "\(dir.path)/a/x.yaml:\(line):7"
    let b = "\(dir.path)/b/x.yaml:\(line):7"
    let out = dir.appendingPathComponent("out").path
    for args in [
      ["validate", dir.path], ["run", dir.path, "--report-dir", out], ["sweep", dir.path, "--report-dir", out],
    ] {
      let r = try CLI.run(args)
      #expect(r.status == 2, "\(args[0]): \(r.stdout)\(r.stderr)")
      #expect(
        r.stderr.contains(
          "\(b): error: plan: expected a name no other plan has (results, reports, repro files and known failures know a plan by its name), found 'same', the name of the plan at \(a) too; rename one, e.g. 'b-same'"
        ), "\(args[0]): \(r.stderr)")
      #expect(!r.stderr.contains("'other'"), "\(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: out), "\(args[0]) wrote \(out)")
    }
    // The same plans, one renamed: all three are good.
    let renamed = dir.appendingPathComponent("b/x.yaml")
    try String(contentsOf: renamed, encoding: .utf8).replacingOccurrences(
      of: "\nplan: same\n", with: "\nplan: b-same\n"
    )
    .write(to: renamed, atomically: true, encoding: .utf8)
    let ok = try CLI.run(["validate", dir.path])
    #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
  }

  @Test("the plans in Plans/ have names of their own")
  func corpusUnique() throws {
    let r = try CLI.run(["validate", "Plans"])
    #expect(r.status == 0, "\(r.stderr)")
    let names = r.stdout.split(separator: "\n").compactMap { line -> Substring? in
      guard let open = line.firstIndex(of: "("), let comma = line[open...].firstIndex(of: ",") else { return nil }
      return line[line.index(after: open)..<comma]
    }
    #expect(names.count > 30 && Set(names).count == names.count, "\(names)")
  }
}
