import CUbdControl
import Foundation

/// The host's side of the disk shim (`fl_ubd_control.h`): the control block both map, and the
/// undo log the shim writes. Arms faults on the disk's points, reads how often each was hit, and
/// puts the image back as it was at the last flush (a power cut) or at the golden point.
final class UbdControl: @unchecked Sendable {
  /// The disk's points, in the shim's order.
  enum Point: Int, CaseIterable {
    case read = 0
    case write = 1
    case flush = 2
    var name: String { ["io.read", "io.write", "io.flush"][rawValue] }
  }

  let controlPath: String
  let undoPath: String
  let imagePath: String
  private let block: UnsafeMutablePointer<fl_ubd_control>

  /// Makes the control file (a fresh block) and an empty undo log beside the image.
  init(image: String, control: String, undo: String) throws {
    imagePath = image
    controlPath = control
    undoPath = undo
    let size = MemoryLayout<fl_ubd_control>.size
    let fd = open(control, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw LinuxEngineError.io(control, errno) }
    defer { Glibc.close(fd) }
    guard ftruncate(fd, off_t(size)) == 0 else { throw LinuxEngineError.io(control, errno) }
    guard let m = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), m != MAP_FAILED else {
      throw LinuxEngineError.io(control, errno)
    }
    block = m.assumingMemoryBound(to: fl_ubd_control.self)
    block.pointee.magic = FL_UBD_MAGIC
    block.pointee.version = FL_UBD_VERSION
    block.pointee.image_fd = -1
    let u = open(undo, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard u >= 0 else { throw LinuxEngineError.io(undo, errno) }
    Glibc.close(u)
  }

  deinit { munmap(block, MemoryLayout<fl_ubd_control>.size) }

  /// The shim found the image (UML opened it through the shim).
  var attached: Bool { block.pointee.image_fd >= 0 }
  var undoErrors: UInt64 { withField(\.undo_errors) { fl_ubd_load($0) } }

  private func withField<T>(_ k: WritableKeyPath<fl_ubd_control, UInt64>, _ body: (UnsafeMutablePointer<UInt64>) -> T)
    -> T
  {
    let p = UnsafeMutableRawPointer(block).advanced(by: MemoryLayout<fl_ubd_control>.offset(of: k)!)
    return body(p.assumingMemoryBound(to: UInt64.self))
  }

  private func point(_ p: Point) -> UnsafeMutablePointer<fl_ubd_point_state> {
    let base = UnsafeMutableRawPointer(block).advanced(by: MemoryLayout<fl_ubd_control>.offset(of: \.points)!)
    return base.assumingMemoryBound(to: fl_ubd_point_state.self).advanced(by: p.rawValue)
  }

  var dropWrites: Bool {
    get { fl_ubd_load32(&block.pointee.drop_writes) != 0 }
    set { fl_ubd_store32(&block.pointee.drop_writes, newValue ? 1 : 0) }
  }
  var recording: Bool {
    get { fl_ubd_load32(&block.pointee.recording) != 0 }
    set { fl_ubd_store32(&block.pointee.recording, newValue ? 1 : 0) }
  }

  /// Hits of `p` since the last `zero()`.
  func hits(_ p: Point) -> Int { Int(fl_ubd_load(&point(p).pointee.hits)) }

  /// The hits of `p` that fired (their numbers, as far as the shim kept them) and how many there were.
  func fired(_ p: Point) -> (numbers: [Int], count: Int) {
    let s = point(p)
    let n = Int(fl_ubd_load(&s.pointee.fired))
    let kept = min(n, Int(FL_UBD_FIRED_MAX))
    let numbers = withUnsafeMutablePointer(to: &s.pointee.fired_at) { t in
      t.withMemoryRebound(to: UInt64.self, capacity: Int(FL_UBD_FIRED_MAX)) { a in
        (0..<kept).map { Int(fl_ubd_load(a + $0)) }
      }
    }
    return (numbers, n)
  }

  /// Fires hits `from...to` of `p` (every `every`th within them, 0: all) with `errno`.
  func arm(_ p: Point, from: Int, to: Int, every: Int, errno e: Int32) {
    let s = point(p)
    fl_ubd_store(&s.pointee.fire_to, to == Int.max ? UInt64.max : UInt64(to))
    fl_ubd_store(&s.pointee.every, UInt64(every))
    fl_ubd_store_err(&s.pointee.err, Int64(e))
    fl_ubd_store(&s.pointee.fire_from, UInt64(from))
  }

  /// Nothing fires; counts and fired records start again from zero.
  func disarmAndZero() {
    for p in Point.allCases {
      let s = point(p)
      fl_ubd_store(&s.pointee.fire_from, 0)
      fl_ubd_store(&s.pointee.hits, 0)
      fl_ubd_store(&s.pointee.fired, 0)
    }
  }

  func disarm() {
    for p in Point.allCases { fl_ubd_store(&point(p).pointee.fire_from, 0) }
  }

  /// Undoes the image's writes back to the last flush marker (`toFlush`) or to the start of the
  /// log (the golden point), newest first, and cuts the log there. The guest must be idle (the
  /// filesystem unmounted, no I/O in flight). Returns the records undone.
  @discardableResult
  func rollBack(toFlush: Bool) throws -> Int {
    guard undoErrors == 0 else {
      throw LinuxEngineError.broken(
        "the disk shim could not write \(undoErrors) undo record(s): the image cannot be restored")
    }
    let log = try Data(contentsOf: URL(fileURLWithPath: undoPath))
    var records: [(offset: UInt64, start: Int, length: Int, at: Int)] = []
    var lastFlush = 0  // the log's length at the last flush marker
    var i = 0
    let header = MemoryLayout<fl_ubd_undo_header>.size
    // Each pass consumes one record: bounded by the log's length.
    while i + header <= log.count {
      let offset = log.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
      let length = log.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self) }
      if offset == UInt64.max {
        i += header
        lastFlush = i
        continue
      }
      guard i + header + Int(length) <= log.count else { break }  // a torn last record: never written
      records.append((offset, i + header, Int(length), i))
      i += header + Int(length)
    }
    let cut = toFlush ? lastFlush : 0
    let undo = records.filter { $0.at >= cut }
    let fd = open(imagePath, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw LinuxEngineError.io(imagePath, errno) }
    defer { Glibc.close(fd) }
    for r in undo.reversed() {
      let n = log.withUnsafeBytes { pwrite(fd, $0.baseAddress! + r.start, r.length, off_t(r.offset)) }
      guard n == r.length else { throw LinuxEngineError.io(imagePath, errno) }
    }
    guard truncate(undoPath, off_t(cut)) == 0 else { throw LinuxEngineError.io(undoPath, errno) }
    return undo.count
  }
}

/// What went wrong on the host's side of the linux engine.
enum LinuxEngineError: Error, CustomStringConvertible {
  case io(String, Int32)
  case broken(String)
  var description: String {
    switch self {
    case .io(let path, let e): "\(path): \(String(cString: strerror(e)))"
    case .broken(let why): why
    }
  }
}
