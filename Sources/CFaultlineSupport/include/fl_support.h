#ifndef FL_SUPPORT_H
#define FL_SUPPORT_H

#include <stddef.h>

/// Keeps freed heap memory in the process instead of trimming it back to the kernel
/// (glibc mallopt M_TRIM_THRESHOLD / M_MMAP_THRESHOLD). Returns 1 on success, 0 where unsupported.
int fl_keep_heap(long trim_threshold_bytes, long mmap_threshold_bytes);

/// The running program's GNU build id (NT_GNU_BUILD_ID), read from its loaded note segments:
/// copies up to `cap` bytes to `out` and returns how many; 0 when it has none.
size_t fl_build_id(unsigned char *out, size_t cap);

/// Catches `signals` (once per process): each one caught writes its number, one byte, to a pipe
/// whose read end is returned (-1 on failure or a second call). The handler is async-signal-safe
/// and, being a handler, not inherited by programs the process executes. Unblocks the signals in
/// the calling thread.
int fl_signals_to_pipe(const int *signals, int count);

#endif
