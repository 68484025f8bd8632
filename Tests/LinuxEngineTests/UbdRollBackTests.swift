import Foundation
import Testing

@testable import LinuxEngine

/// The disk shim's undo log and `UbdControl.rollBack`, on the host alone (no kernel): a process
/// with the shim preloaded writes and flushes an image as UML's ubd driver would; rolling back puts
/// the image's bytes back as they were at the last flush (a power cut) and at the golden point.
@Suite("linux: undo log and roll-back, host only")
struct UbdRollBackTests {
  static let block = 4096

  /// Runs `python` (a script over `fd`, the image opened read-write) with the shim preloaded on `image`.
  static func withShim(_ c: UbdControl, _ python: String) throws -> (status: Int32, output: String) {
    let shim = try LinuxMachine.helpers().shim
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import os\nfd = os.open('\(c.imagePath)', os.O_RDWR)\n" + python]
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = shim
    env["FAULTLINE_UBD_IMAGE"] = c.imagePath
    env["FAULTLINE_UBD_CONTROL"] = c.controlPath
    env["FAULTLINE_UBD_UNDO"] = c.undoPath
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// A scratch image of `blocks` blocks of 0x11, and its control block, recording.
  static func image(_ name: String, blocks: Int = 4) throws -> (dir: URL, control: UbdControl) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-ubd-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let img = dir.appendingPathComponent("disk.img").path
    try Data(repeating: 0x11, count: blocks * block).write(to: URL(fileURLWithPath: img))
    let c = try UbdControl(
      image: img, control: dir.appendingPathComponent("ubd.ctl").path, undo: dir.appendingPathComponent("ubd.undo").path
    )
    c.recording = true
    return (dir, c)
  }

  /// Block `i` of the image: nil unless every byte is the same, else that byte.
  static func fill(_ c: UbdControl, _ i: Int) throws -> UInt8? {
    let d = try Data(contentsOf: URL(fileURLWithPath: c.imagePath))
    guard d.count >= (i + 1) * block else { return nil }
    let b = d[(i * block)..<((i + 1) * block)]
    return b.allSatisfy { $0 == b.first } ? b.first : nil
  }

  @Test("writes after the last flush are undone by a power cut; every write by a roll-back to golden")
  func rollBack() throws {
    let (dir, c) = try Self.image("rollback")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try Self.withShim(
      c,
      """
      os.pwrite(fd, b'\\xaa' * 4096, 0)
      os.fdatasync(fd)
      os.pwrite(fd, b'\\xbb' * 4096, 4096)
      os.pwrite(fd, b'\\xcc' * 4096, 0)
      os.pwrite(fd, b'\\xdd' * 8192, 16384)
      """)
    #expect(r.status == 0, "\(r.output)")
    #expect(c.attached, "the shim found the image")
    #expect(c.hits(.write) == 4 && c.hits(.flush) == 1)
    #expect(try [0, 1, 2, 4, 5].map { try Self.fill(c, $0) } == [0xCC, 0xBB, 0x11, 0xDD, 0xDD])
    // Power cut: the three writes since the flush go; the flushed one stays.
    #expect(try c.rollBack(toFlush: true) == 3)
    #expect(try [0, 1, 2, 3].map { try Self.fill(c, $0) } == [0xAA, 0x11, 0x11, 0x11])
    // Beyond the old end the log held zeros: that is what the image reads there now.
    #expect(try [4, 5].map { try Self.fill(c, $0) } == [0x00, 0x00])
    // Golden: the flushed write goes too, and the log is empty after.
    #expect(try c.rollBack(toFlush: false) == 1)
    #expect(try (0..<4).map { try Self.fill(c, $0) } == [0x11, 0x11, 0x11, 0x11])
    #expect(try FileManager.default.attributesOfItem(atPath: c.undoPath)[.size] as? Int == 0)
  }

  @Test("a write the shim failed is not in the log; a torn last record is ignored")
  func failedWriteAndTornRecord() throws {
    let (dir, c) = try Self.image("torn")
    defer { try? FileManager.default.removeItem(at: dir) }
    c.arm(.write, from: 2, to: 2, every: 0, errno: EIO)
    let r = try Self.withShim(
      c,
      """
      os.pwrite(fd, b'\\xaa' * 4096, 0)
      try:
          os.pwrite(fd, b'\\xbb' * 4096, 4096)
          print('written')
      except OSError as e:
          print('errno', e.errno)
      os.pwrite(fd, b'\\xcc' * 4096, 8192)
      """)
    #expect(r.status == 0 && r.output.contains("errno 5"), "\(r.output)")
    #expect(c.fired(.write).numbers == [2])
    #expect(try (0..<3).map { try Self.fill(c, $0) } == [0xAA, 0x11, 0xCC])
    // A record cut short (the shim killed mid-append): its header says 4096 bytes, 10 follow.
    let undo = try #require(FileHandle(forWritingAtPath: c.undoPath))
    undo.seekToEndOfFile()
    var header = [UInt64(12288), UInt64(4096)]
    undo.write(Data(bytes: &header, count: 16) + Data(repeating: 0x77, count: 10))
    try undo.close()
    #expect(try c.rollBack(toFlush: false) == 2)
    #expect(try (0..<4).map { try Self.fill(c, $0) } == [0x11, 0x11, 0x11, 0x11])
  }

  @Test("a log the shim could not write in full is refused, not trusted")
  func undoErrorsRefused() throws {
    let (dir, first) = try Self.image("undo-errors")
    defer { try? FileManager.default.removeItem(at: dir) }
    // An undo log on /dev/full: every record the shim appends fails with ENOSPC.
    let c = try UbdControl(image: first.imagePath, control: first.controlPath, undo: "/dev/full")
    c.recording = true
    let r = try Self.withShim(c, "os.pwrite(fd, b'\\xaa' * 4096, 0)\n")
    #expect(r.status == 0, "\(r.output)")
    #expect(c.undoErrors == 1)
    #expect(throws: LinuxEngineError.self) { try c.rollBack(toFlush: false) }
  }
}
