import FaultKit
import Foundation

/// This process's exclusive use of a report directory: `flock` on `DIR/.lock`, which holds the
/// owner's pid. Two runs writing into one directory mix one's results with the other's journal;
/// the second is refused instead, naming the first. The kernel drops the lock when the process
/// ends however it ends (kill -9 included), so a dead run never holds a directory.
public final class ReportDirectoryLock: @unchecked Sendable {
  public static let fileName = ".lock"
  public let directory: ReportDirectory
  private var fd: Int32

  private init(directory: ReportDirectory, fd: Int32) {
    self.directory = directory
    self.fd = fd
  }

  /// Takes `directory` (creating it) or says who has it.
  /// - Throws: `ResultsError` "DIR: in use by faultline pid N …" when another process holds it,
  ///   or "DIR: strerror" when it cannot be created or locked.
  public static func take(_ directory: ReportDirectory) throws -> ReportDirectoryLock {
    let dir = directory.url
    try IOFailure.makeDirectory(directory.path)
    let path = dir.appendingPathComponent(fileName).path
    // A holder removes the file when it is done; a lock taken on a file just removed is retried
    // on the new one. Each try either locks, fails or sees the file replaced: a few tries do.
    for _ in 0..<8 {
      let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
      guard fd >= 0 else { throw ResultsError(message: "\(path): \(String(cString: strerror(errno)))") }
      guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
        let e = errno
        let holder = readPid(fd)
        close(fd)
        guard e == EWOULDBLOCK else { throw ResultsError(message: "\(path): \(String(cString: strerror(e)))") }
        throw ResultsError(
          message:
            "\(directory.path): in use by another faultline\(holder.map { " (pid \($0))" } ?? ""); wait for it to finish or name another --report-dir"
        )
      }
      var held = stat()
      var named = stat()
      guard fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev
      else {
        close(fd)
        continue
      }
      let pid = Array("\(getpid())\n".utf8)
      _ = ftruncate(fd, 0)
      _ = pwrite(fd, pid, pid.count, 0)
      return ReportDirectoryLock(directory: directory, fd: fd)
    }
    throw ResultsError(message: "\(path): replaced while it was being locked, again and again")
  }

  /// Gives the directory up: the lock file goes, then the lock.
  public func release() {
    guard fd >= 0 else { return }
    unlink(directory.url.appendingPathComponent(Self.fileName).path)
    close(fd)
    fd = -1
  }

  deinit { release() }

  private static func readPid(_ fd: Int32) -> Int32? {
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = pread(fd, &buffer, buffer.count, 0)
    guard n > 0 else { return nil }
    return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
  }
}
