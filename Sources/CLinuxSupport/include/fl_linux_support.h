#ifndef FL_LINUX_SUPPORT_H
#define FL_LINUX_SUPPORT_H

#include <sys/types.h>

/* Starts `path` with `argv` and `envp` as a User-Mode Linux machine: in a process group of its
 * own (so one kill ends it and every helper it forks), with SIGKILL as its parent-death signal
 * (so it never outlives the thread that started it), stdin from /dev/null, stdout and stderr to
 * `log_fd`, and the guest channel on fds 3 (host to guest) and 4 (guest to host). Every other
 * descriptor is closed. Returns the pid, or -errno. */
pid_t fl_uml_spawn(const char *path, char *const argv[], char *const envp[], int to_guest, int from_guest,
                   int log_fd);

/* A write to a guest that has gone must fail with EPIPE, not kill the process with SIGPIPE (the
 * default action): ignores SIGPIPE unless the program already handles it. Idempotent. */
void fl_ignore_sigpipe(void);

#endif
