#ifndef FL_SUPPORT_H
#define FL_SUPPORT_H

/// Keeps freed heap memory in the process instead of trimming it back to the kernel
/// (glibc mallopt M_TRIM_THRESHOLD / M_MMAP_THRESHOLD). Returns 1 on success, 0 where unsupported.
int fl_keep_heap(long trim_threshold_bytes, long mmap_threshold_bytes);

#endif
