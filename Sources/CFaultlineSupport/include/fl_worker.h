#ifndef FL_WORKER_H
#define FL_WORKER_H

#include <sys/types.h>

/// Spawns a worker process with posix_spawn: `path` with `argv` and `envp`, in the caller's
/// process group, with no signal blocked and every signal at its default disposition but the
/// job-control ones the caller ignores (SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU). The child gets
/// `request_fd` as descriptor 3 and `answer_fd` as descriptor 4 (the protocol), /dev/null as its
/// standard input, `log_fd` as its standard output and standard error, and nothing else.
/// Returns the child's pid, or -1 with errno set.
pid_t fl_spawn_worker(const char *path, char *const argv[], char *const envp[], int request_fd, int answer_fd,
                      int log_fd);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no spawned program inherits. Returns 0, or -1.
int fl_pipe_cloexec(int fds[2]);

/// A file with no name, for appending (a worker's standard output and error): a memfd, or an
/// unlinked temporary file where there is none. Nothing is left behind when the process dies,
/// however it dies. Returns the descriptor (close-on-exec), or -1 with errno set.
int fl_anonymous_file(void);

/// Asks the kernel to send `signal` to this process when the thread that spawned it exits
/// (prctl PR_SET_PDEATHSIG). Returns 0, or -1 with errno set (or where unsupported).
int fl_parent_death_signal(int signal);

#endif
