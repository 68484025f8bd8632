import CFaultlineSupport

/// Process-wide settings for programs that run many scenarios in a row (the CLI, benchmarks,
/// sweep workers). Not applied by FaultKit itself: a library has no business changing malloc for
/// its host.
public enum ProcessTuning {
  /// Keeps freed heap memory in the process: every scenario allocates and frees the same few
  /// hundred KiB, and glibc's default trimming hands it back to the kernel each time, so the next
  /// scenario pays brk calls, page faults and page clears (measured with perf and strace: ~5 brk
  /// calls a scenario and 12% of its time on the seed plan).
  /// - Returns: whether the C library took the settings (false where it has no such knobs).
  @discardableResult
  public static func keepHeap() -> Bool {
    fl_keep_heap(256 << 20, 32 << 20) == 1
  }
}
