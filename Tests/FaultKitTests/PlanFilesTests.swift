import Foundation
import Testing

@testable import FaultKit

@Suite("PlanLoader.planFiles walks directories and reports what it cannot walk")
struct PlanFilesTests {
  @Test("symbolic links to plans and to directories are followed; a broken one is an error naming it")
  func links() throws {
    let dir = NSTemporaryDirectory() + "/planfiles-\(getpid())"
    let fm = FileManager.default
    try? fm.removeItem(atPath: dir)
    try fm.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
    defer { try? fm.removeItem(atPath: dir) }
    try "plan: x\n".write(toFile: dir + "/real/a.yaml", atomically: true, encoding: .utf8)
    try fm.createSymbolicLink(atPath: dir + "/linked", withDestinationPath: "real")
    try fm.createSymbolicLink(atPath: dir + "/b.yml", withDestinationPath: "real/a.yaml")
    #expect(try PlanLoader.planFiles(in: [dir]) == [dir + "/b.yml", dir + "/linked/a.yaml", dir + "/real/a.yaml"])

    try fm.createSymbolicLink(atPath: dir + "/real/gone.yaml", withDestinationPath: "nowhere")
    let dangling = try #require(#expect(throws: PlanError.self) { try PlanLoader.planFiles(in: [dir]) })
    #expect(dangling.location.file == dir + "/linked/gone.yaml")
    #expect(dangling.found == "a dangling symbolic link (to 'nowhere', which does not exist)")
    try fm.removeItem(atPath: dir + "/real/gone.yaml")

    try fm.createSymbolicLink(atPath: dir + "/real/loop", withDestinationPath: "loop")
    let loop = try #require(#expect(throws: PlanError.self) { try PlanLoader.planFiles(in: [dir]) })
    #expect(loop.found == "a symbolic link that loops")
    try fm.removeItem(atPath: dir + "/real/loop")

    try fm.createSymbolicLink(atPath: dir + "/real/up", withDestinationPath: "..")
    let up = try #require(#expect(throws: PlanError.self) { try PlanLoader.planFiles(in: [dir]) })
    #expect(up.found == "a symbolic link back to a directory it is in (a loop)")
    #expect(up.location.file.hasSuffix("/up"))
  }
}
