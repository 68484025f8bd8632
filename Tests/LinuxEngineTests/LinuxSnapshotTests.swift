import FaultKit
import Testing

@testable import LinuxEngine

@Suite("The guest's snapshot in the common model")
struct LinuxSnapshotTests {
  @Test("FIEMAP extents become tree extents with disk blocks, delalloc, unwritten; statfs a space line")
  func parse() throws {
    let json = """
      {"statfs":{"bsize":4096,"blocks":1000,"bfree":900,"bavail":850,"files":10,"ffree":5},"files":[\
      {"path":"/a","size":73728,"blocks":128,"mode":33188,"extents":[[0,136314880,65536,0],[65536,0,4096,7],[69632,136380416,4096,2049]]},\
      {"path":"/gone","errno":2},{"path":"/b","size":0,"mode":33188,"extents":[],"fiemapErrno":5}]}
      """
    let s = try LinuxSnapshot.parse(Array(json.utf8))
    #expect(s.files.map(\.path) == ["/a", "/b"])
    #expect(
      s.extents.map(\.line) == [
        "tree /a [0, 64KiB) -> blocks 33280-33295 (written)", "delalloc /a [64KiB, 68KiB)",
        "tree /a [68KiB, 72KiB) -> block 33296 (unwritten)",
      ])
    #expect(s.unreadable == ["/b: FIEMAP failed: EIO"])
    #expect(s.space.first?.free == 850 * 4096)
  }

  @Test("an answer that is not the agent's JSON is unreadable, with its bytes")
  func garbage() {
    #expect(throws: UnreadableState.self) { try LinuxSnapshot.parse(Array("{\"statfs\":".utf8)) }
  }
}
