#ifndef FL_PROFILE_H
#define FL_PROFILE_H

/// The compiler's coverage counters (clang -fprofile-instr-generate, swiftc -profile-generate,
/// `swift build --enable-code-coverage`), through the profile runtime's own functions, which are
/// weak here: in a program built without coverage they are absent and these say so.

/// 1 when this program carries the profile runtime (a coverage build), else 0.
int fl_profile_instrumented(void);

/// Writes the counters so far to `path` (a .profraw file; overwritten) and sets them to zero.
/// Returns 0; -1 when the program has no counters or the write failed.
int fl_profile_write_and_reset(const char *path);

/// Sets the counters to zero (nothing written). No-op without counters.
void fl_profile_reset(void);

/// Where the runtime writes at exit (its LLVM_PROFILE_FILE); "/dev/null": nowhere. No-op without counters.
void fl_profile_set_filename(const char *path);

#endif
