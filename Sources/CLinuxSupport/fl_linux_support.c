/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include "fl_linux_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

void fl_ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) != 0) return;
  if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
}

pid_t fl_uml_spawn(const char *path, char *const argv[], char *const envp[], int to_guest, int from_guest,
                   int log_fd) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid > 0) {
    setpgid(pid, pid); /* also in the child: whichever runs first */
    return pid;
  }
  /* The child: only async-signal-safe calls until execve. */
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127); /* the parent died before the signal was set */
  int null = open("/dev/null", O_RDONLY);
  if (null < 0) _exit(127);
  /* Move the channel clear of 0-4 first, so the dup2s below cannot clobber each other. */
  int in = fcntl(to_guest, F_DUPFD, 10), out = fcntl(from_guest, F_DUPFD, 10), log = fcntl(log_fd, F_DUPFD, 10);
  if (in < 0 || out < 0 || log < 0) _exit(127);
  if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 || dup2(in, 3) < 0 || dup2(out, 4) < 0) _exit(127);
  close_range(5, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  execve(path, argv, envp);
  _exit(127);
}
