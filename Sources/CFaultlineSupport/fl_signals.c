#define _GNU_SOURCE
#include "fl_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The write end of the pipe each caught signal's number goes to. Set once, before any handler
 * can run; a handler only reads it. */
static int signal_pipe = -1;

/* Async-signal-safe: one write(2), errno kept. */
static void to_pipe(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t n = write(signal_pipe, &b, 1);
  (void)n;
  errno = saved;
}

int fl_signals_to_pipe(const int *signals, int count) {
  int fds[2];
  if (signal_pipe >= 0 || pipe2(fds, O_CLOEXEC) != 0) return -1;
  signal_pipe = fds[1];
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = to_pipe;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < count; i++) {
    sigaction(signals[i], &sa, NULL);
    sigaddset(&set, signals[i]);
  }
  /* A parent may have started this process with them blocked (every thread inherits the mask):
   * unblocked in the calling thread, they are delivered to it at least. */
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  return fds[0];
}
