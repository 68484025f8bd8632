import CFaultlineSupport

/// Process-wide settings for programs that run many scenarios in a row (the CLI, benchmarks,
/// sweep workers). Not applied by FaultKit itself: a library has no business changing malloc for
/// its host.
public enum ProcessTuning {
  /// Keeps freed heap memory in the process: every scenario allocates and frees the same few
  /// hundred KiB, and glibc's default trimming hands it back to the kernel each time, so the next
  /// scenario pays a page fault and a page clear per 4 KiB (42% of a write-fsync scenario's time,
  /// measured with perf).
  public static func keepHeap() {
    _ = fl_keep_heap(256 << 20, 32 << 20)
  }
}
