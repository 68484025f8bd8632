#ifndef FL_LINUX_SUPPORT_H
#define FL_LINUX_SUPPORT_H

#include <sys/types.h>

/* Starts `path` with `argv` and `envp` as a User-Mode Linux machine under a keeper process, and
 * returns the keeper's pid (or -errno). The machine runs in a process group of its own (UML's
 * helpers stay in it), with stdin from /dev/null, stdout and stderr to `log_fd`, the guest channel
 * on fds 3 (host to guest) and 4 (guest to host), and every other descriptor closed. The keeper
 * kills that whole group, then exits, when the machine ends, when it gets SIGTERM, or when the
 * thread that started it dies (its parent-death signal): a machine's ptraced helpers, which a
 * parent-death SIGKILL of the machine alone can leave stopped and orphaned, never outlive it. */
pid_t fl_uml_spawn(const char *path, char *const argv[], char *const envp[], int to_guest, int from_guest,
                   int log_fd);

/* A write to a guest that has gone must fail with EPIPE, not kill the process with SIGPIPE (the
 * default action): ignores SIGPIPE unless the program already handles it. Idempotent. */
void fl_ignore_sigpipe(void);

#endif
