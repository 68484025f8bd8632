#include "fl_support.h"

// A libc header first: it is what defines __GLIBC__.
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int fl_keep_heap(long trim_threshold_bytes, long mmap_threshold_bytes) {
#if defined(__GLIBC__)
  int ok = mallopt(M_TRIM_THRESHOLD, (int)trim_threshold_bytes);
  ok &= mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold_bytes);
  return ok;
#else
  (void)trim_threshold_bytes;
  (void)mmap_threshold_bytes;
  return 0;
#endif
}
