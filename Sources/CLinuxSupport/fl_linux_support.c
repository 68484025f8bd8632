/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include "fl_linux_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

void fl_ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) != 0) return;
  if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
}

/* The keeper's life: it waits for its machine to end or for its own parent to die (SIGTERM, its
 * parent-death signal, or a SIGTERM from shutdown), then kills the machine's whole process group,
 * reaps the machine and exits. Only async-signal-safe calls: this runs in a forked child of a
 * threaded process. The loop ends at the first of those events; each turn waits for one signal. */
static void keep(pid_t uml, const sigset_t *waited) {
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(waited, &info);
    if (sig == SIGTERM) break;
    /* Ended, but not reaped yet (WNOWAIT): its pid, and so its group's id, stays unused by any
     * other process until the kill below. */
    siginfo_t ended = {0};
    if (sig == SIGCHLD && waitid(P_PID, (id_t)uml, &ended, WEXITED | WNOHANG | WNOWAIT) == 0 && ended.si_pid == uml)
      break;
  }
  /* The helpers UML forked (each guest process's host process is a ptraced child of the machine)
   * are in the machine's group, which can outlive the machine: a SIGKILL to the group ends them
   * all, the stopped ones too, and the kernel holds it for a fork under way. */
  kill(-uml, SIGKILL);
  int status = 0;
  for (int i = 0; i < 100 && waitpid(uml, &status, 0) < 0 && errno == EINTR; i++) {}
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

pid_t fl_uml_spawn(const char *path, char *const argv[], char *const envp[], int to_guest, int from_guest,
                   int log_fd) {
  pid_t parent = getpid();
  pid_t keeper = fork();
  if (keeper < 0) return -errno;
  if (keeper > 0) {
    setpgid(keeper, keeper); /* also in the child: whichever runs first */
    return keeper;
  }
  /* The keeper: only async-signal-safe calls from here on. Its group is its own, so the
   * terminal's Ctrl-C reaches the sweep (which shuts machines down), not the keeper. */
  setpgid(0, 0);
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGCHLD);
  sigprocmask(SIG_SETMASK, &waited, NULL);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127); /* the parent died before the signal was set */
  int null = open("/dev/null", O_RDWR);
  if (null < 0) _exit(127);
  /* Move the channel clear of 0-4 first, so the dup2s below cannot clobber each other. */
  int in = fcntl(to_guest, F_DUPFD, 10), out = fcntl(from_guest, F_DUPFD, 10), log = fcntl(log_fd, F_DUPFD, 10);
  if (in < 0 || out < 0 || log < 0) _exit(127);
  pid_t self = getpid();
  pid_t uml = fork();
  if (uml < 0) _exit(127);
  if (uml == 0) {
    /* The machine: a group leader itself, so UML's own setsid() at start fails and it stays in
     * this group with every helper it forks. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self) _exit(127);
    if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 || dup2(in, 3) < 0 || dup2(out, 4) < 0)
      _exit(127);
    close_range(5, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execve(path, argv, envp);
    _exit(127);
  }
  setpgid(uml, uml);
  /* The keeper holds none of the machine's descriptors: the host sees the guest channel close
   * when the machine ends, not when the keeper does. */
  for (int fd = 0; fd < 3; fd++) dup2(null, fd);
  close_range(3, ~0U, 0);
  keep(uml, &waited);
  _exit(127);
}
