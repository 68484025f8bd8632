#include "fl_profile.h"

#include <stddef.h>

/* compiler-rt's InstrProfiling.h; weak, so a build without coverage links without them. */
extern int __llvm_profile_write_file(void) __attribute__((weak));
extern void __llvm_profile_reset_counters(void) __attribute__((weak));
extern void __llvm_profile_set_filename(const char *name) __attribute__((weak));

int fl_profile_instrumented(void) {
  return __llvm_profile_write_file != NULL && __llvm_profile_reset_counters != NULL &&
         __llvm_profile_set_filename != NULL;
}

int fl_profile_write_and_reset(const char *path) {
  if (!fl_profile_instrumented()) return -1;
  __llvm_profile_set_filename(path);
  int rc = __llvm_profile_write_file();
  __llvm_profile_reset_counters();
  return rc == 0 ? 0 : -1;
}

void fl_profile_reset(void) {
  if (fl_profile_instrumented()) __llvm_profile_reset_counters();
}

void fl_profile_set_filename(const char *path) {
  if (fl_profile_instrumented()) __llvm_profile_set_filename(path);
}
