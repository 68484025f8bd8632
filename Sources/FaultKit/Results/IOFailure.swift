import Foundation

/// File I/O that says what failed as `PATH: reason`, the reason as strerror says it ("No space
/// left on device"), never as Foundation's `NSCocoaErrorDomain Code=640` or a temporary file's
/// name.
public enum IOFailure {
  /// `error`'s reason in strerror's words when it carries an errno (directly, underlying, or as a
  /// Cocoa file error code); its description otherwise.
  public static func reason(_ error: Error) -> String {
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain { return text(Int32(ns.code)) }
    if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
      return text(Int32(u.code))
    }
    if ns.domain == NSCocoaErrorDomain, let e = errnos[ns.code] { return text(e) }
    return "\(error)"
  }

  /// Foundation's file error codes and the errno each stands for.
  private static let errnos: [Int: Int32] = [
    NSFileNoSuchFileError: ENOENT, NSFileReadNoSuchFileError: ENOENT, NSFileReadNoPermissionError: EACCES,
    NSFileWriteNoPermissionError: EACCES, NSFileWriteOutOfSpaceError: ENOSPC, NSFileWriteVolumeReadOnlyError: EROFS,
    NSFileWriteFileExistsError: EEXIST, NSFileReadTooLargeError: EFBIG, NSFileWriteInvalidFileNameError: EINVAL,
  ]

  public static func text(_ e: Int32) -> String { String(cString: strerror(e)) }

  /// Makes directory `path` and any missing parents (mkdir -p).
  /// - Throws: `ResultsError` "PATH: cannot create the directory (reason)", naming the directory
  ///   mkdir(2) refused.
  public static func makeDirectory(_ path: String) throws {
    // Each level down is one component shorter: bounded by the path's depth.
    if mkdir(path, 0o755) == 0 { return }
    var e = errno
    if e == ENOENT {
      let parent = (path as NSString).deletingLastPathComponent
      if !parent.isEmpty && parent != path {
        try makeDirectory(parent)
        if mkdir(path, 0o755) == 0 { return }
        e = errno
      }
    }
    var st = stat()
    if e == EEXIST && stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return }
    if e == EEXIST { e = ENOTDIR }
    throw ResultsError(message: "\(path): cannot create the directory (\(text(e)))")
  }

  /// Writes all of `bytes` to `fd` (short writes continued, EINTR retried); 0 or the errno.
  public static func writeAll(_ fd: Int32, _ bytes: Data) -> Int32 {
    bytes.withUnsafeBytes { raw -> Int32 in
      var done = 0
      // Every pass writes at least a byte or returns: at most `raw.count` passes (and EINTRs).
      while done < raw.count {
        let n = write(fd, raw.baseAddress! + done, raw.count - done)
        if n < 0 {
          if errno == EINTR { continue }
          return errno
        }
        if n == 0 { return EIO }
        done += n
      }
      return 0
    }
  }

  /// Writes `bytes` to `path` whole or not at all: a temporary file beside it, renamed over it.
  /// - Throws: `ResultsError` "PATH: reason" (the target's path, whichever step failed).
  public static func replace(_ path: String, with bytes: Data) throws {
    let dir = (path as NSString).deletingLastPathComponent
    let tmp = (dir.isEmpty ? "" : dir + "/") + ".\((path as NSString).lastPathComponent).tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ResultsError(message: "\(path): \(text(errno))") }
    var e = writeAll(fd, bytes)
    if close(fd) != 0 && e == 0 { e = errno }
    if e == 0 && rename(tmp, path) != 0 { e = errno }
    if e != 0 {
      unlink(tmp)
      throw ResultsError(message: "\(path): \(text(e))")
    }
  }
}
