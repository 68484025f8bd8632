/// What the VFS checks before a filesystem sees an operation: that its byte range can be
/// addressed at all (a file offset is a signed 64-bit `loff_t`) and that it ends within the
/// largest file the filesystem holds (`s_maxbytes`). The loader rejects a plan whose operation
/// fails this (so a size that cannot be run is an error at its line and column, not a trap in an
/// engine), and the runner answers such an operation with the errno the kernel would, without
/// calling the engine (a plan made in code is not loaded).
public struct OperationRange: Sendable, Hashable {
  /// The largest file offset (`loff_t` is signed).
  public static let maxOffset = UInt64(Int64.max)

  /// The argument at fault (`offset`, `length` or `size`), what the range is, and the errno.
  public let key: String
  public let found: String
  public let errno: Errno
  /// What an acceptable value is, for the loader's message.
  public let expected: String

  /// Why `op` cannot be run on files of at most `maxFileSize` bytes (nil when it can, or when
  /// the engine does not say how large a file may be: then only the 64-bit bound holds).
  public static func refusal(_ op: Operation, maxFileSize: UInt64?) -> OperationRange? {
    // Every operation of every scenario passes here: the words are made only for a refusal.
    let limit = min(maxFileSize ?? maxOffset, maxOffset)
    var within: String {
      maxFileSize.map { "a range that ends within \(Size.format($0)), the largest file the setup's device holds" }
        ?? "a range that ends below 2^63 bytes"
    }
    // Operations that would write past the limit fail with EFBIG, as write(2), fallocate(2) (any
    // mode) and truncate(2) do past s_maxbytes; the others (reads, writeback, one page) with EINVAL.
    let errno: Errno = grows.contains(op.kind) ? .fileTooLarge : .invalid
    if let size = op.size, size > limit {
      return OperationRange(key: "size", found: "size \(Size.format(size))", errno: errno, expected: within)
    }
    let offset = op.offset ?? 0
    // A page operation touches the byte at `offset`; append's end is unknown before it runs,
    // but it is at least `length`.
    let length = op.length ?? (op.kind == .migratePage || op.kind == .corrupt ? 1 : 0)
    let (end, overflow) = offset.addingReportingOverflow(length)
    guard overflow || end > limit else { return nil }
    let key = op.length == nil || (op.offset ?? 0) > limit ? "offset" : "length"
    var found = op.offset.map { "offset \(Size.format($0))" } ?? ""
    if let l = op.length { found += (found.isEmpty ? "" : " + ") + "length \(Size.format(l))" }
    if overflow { found += ", whose end does not fit in 64 bits" }
    return OperationRange(key: key, found: found, errno: overflow ? .invalid : errno, expected: within)
  }

  private static let grows: Set<OpKind> = [
    .write, .dioWrite, .mmapWrite, .pageMkwrite, .append, .fallocate, .punch, .zeroRange, .truncate,
  ]
}
