import Foundation
import Testing

/// A plans directory with a broken entry is bad input, named: a plan that silently does not run
/// is worse than an error.
@Suite("broken entries in a plans directory")
struct PlanDirectoryTests {
  @Test(
    "a dangling link, a link that loops, a link back to its parent and an unreadable folder: exit 2 with the path",
    arguments: ["dangling", "loop", "parent", "unreadable"])
  func broken(_ kind: String) throws {
    let dir = try CLITests.scratch("plandir-\(kind)")
    defer {
      chmod(dir.path + "/sub", 0o755)
      try? FileManager.default.removeItem(at: dir)
    }
    let fm = FileManager.default
    try fm.createDirectory(atPath: dir.path + "/sub", withIntermediateDirectories: true)
    try fm.copyItem(
      at: CLI.root.appendingPathComponent("Plans/btrfs/write-fsync.yaml"), to: dir.appendingPathComponent("ok.yaml"))
    let entry: String
    switch kind {
    case "dangling":
      entry = dir.path + "/sub/gone.yaml"
      try fm.createSymbolicLink(atPath: entry, withDestinationPath: "nowhere.yaml")
    case "loop":
      entry = dir.path + "/sub/self"
      try fm.createSymbolicLink(atPath: entry, withDestinationPath: "self")
    case "parent":
      entry = dir.path + "/sub/up"
      try fm.createSymbolicLink(atPath: entry, withDestinationPath: "..")
    default:
      // Root reads any directory; the check only means something for other users.
      guard getuid() != 0 else { return }
      entry = dir.path + "/sub"
      chmod(entry, 0)
    }
    for command in ["validate", "run"] {
      let r = try CLI.run([command, dir.path])
      #expect(r.status == 2, "\(command): \(r.status) \(r.stdout)\(r.stderr)")
      #expect(r.stderr.hasPrefix("\(entry):1:1: error: "), "\(command): \(r.stderr)")
    }
  }
}
