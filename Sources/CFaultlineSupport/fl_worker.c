#define _GNU_SOURCE
#include "fl_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/prctl.h>
#endif

/// A copy of `fd` at 10 or above, close-on-exec: the dup2 actions then never read a descriptor
/// an earlier action of theirs replaced (3, 4, 0-2).
static int high(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 10); }

pid_t fl_spawn_worker(const char *path, char *const argv[], char *const envp[], int request_fd, int answer_fd,
                      int log_fd) {
  int req = high(request_fd), ans = high(answer_fd), log = high(log_fd);
  pid_t pid = -1;
  int err = 0;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (req < 0 || ans < 0 || log < 0) {
    err = errno;
    goto close_copies;
  }
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, req, 3);
  posix_spawn_file_actions_adddup2(&actions, ans, 4);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log, 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 5);
#endif
  // The parent ignores SIGPIPE (a worker that dies must not take it along); ignored signals stay
  // ignored across exec, so reset them, and unblock everything. Except the signals a shell
  // ignores for a job it runs in the background (SIGINT, SIGQUIT) and nohup ignores (SIGHUP):
  // ignored by the sweep, they stay ignored by its workers, which are part of the same job.
  sigset_t all, none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  int inherited[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU};
  for (size_t i = 0; i < sizeof inherited / sizeof inherited[0]; i++) {
    struct sigaction now;
    if (sigaction(inherited[i], NULL, &now) == 0 && now.sa_handler == SIG_IGN) sigdelset(&all, inherited[i]);
  }
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  err = posix_spawn(&pid, path, &actions, &attr, argv, envp);
  if (err != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
close_copies:
  if (req >= 0) close(req);
  if (ans >= 0) close(ans);
  if (log >= 0) close(log);
  if (pid < 0) errno = err;
  return pid;
}

int fl_parent_death_signal(int signal) {
#if defined(__linux__)
  return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
#else
  (void)signal;
  errno = ENOSYS;
  return -1;
#endif
}

int fl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int fl_anonymous_file(void) {
  int fd = -1;
#if defined(__linux__) && defined(MFD_CLOEXEC)
  fd = memfd_create("faultline-worker-output", MFD_CLOEXEC);
#endif
  if (fd < 0) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/faultline-worker-XXXXXX", dir && *dir ? dir : "/tmp");
    if (n <= 0 || (size_t)n >= sizeof path) {
      errno = ENAMETOOLONG;
      return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) return -1;
    unlink(path);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_APPEND) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}
