/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent's kernel checks, queries on the query thread like query.c's: loading a test module,
 * the pages left locked or under writeback at rest (/proc/kpageflags), kmemleak's baseline and
 * report, and lockdep's list of held locks (SysRq d). Each reply is RES id=N rc=ERRNO [out=BASE64].
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* module path=HOST_PATH: loads a kernel module (finit_module; the guest's root is the host's, so
 * the host's path is the guest's). ENOSYS: a kernel without module support. */
void fl_check_module(const char *id, fl_msg *m) {
  const char *path = fl_get(m, "path");
  if (!path) return fl_reply(id, EINVAL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fl_reply(id, errno);
  int rc = syscall(SYS_finit_module, fd, "", 0) == 0 ? 0 : errno;
  close(fd);
  fl_reply(id, rc);
}

/* Page flags /proc/kpageflags gives (include/uapi/linux/kernel-page-flags.h). KPF_ERROR (bit 1)
 * is unused since 6.12 (PG_error is gone). */
#define KPF_LOCKED 0
#define KPF_WRITEBACK 8
#define KPFLAGS_BATCH 4096
/* Pages reported at most (a kernel that left more locked is reported as cut). */
#define KPFLAGS_MAX 256

/* One pass over /proc/kpageflags: the frames whose page is locked or under writeback, as
 * (pfn, flags) in `pfns`/`flags` (at most `max`); how many there were in all; -errno if the file
 * cannot be read. `frames`: how many frames the pass read. */
static long long kpageflags_pass(unsigned long long *pfns, unsigned long long *flags, int max, int *n,
                                 unsigned long long *frames) {
  int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  static unsigned long long batch[KPFLAGS_BATCH];
  const unsigned long long want = (1ULL << KPF_LOCKED) | (1ULL << KPF_WRITEBACK);
  long long found = 0;
  unsigned long long pfn = 0;
  *n = 0;
  /* Bounded by the file: it ends at the last frame of memory. */
  for (;;) {
    ssize_t r = pread(fd, batch, sizeof batch, (off_t)(pfn * 8));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r < 8) break;
    for (ssize_t i = 0; i < r / 8; i++, pfn++) {
      if (!(batch[i] & want)) continue;
      if (*n < max) {
        pfns[*n] = pfn;
        flags[*n] = batch[i];
        (*n)++;
      }
      found++;
    }
  }
  close(fd);
  *frames = pfn;
  return found;
}

/* pageflags: the frames whose page stays locked or under writeback at rest:
 * `{"frames":N,"pages":[[pfn,flags],…],"cut":true?}`. The disk is let settle first; a page is
 * reported only if it is so in every pass of up to 2 s (a page locked for a read that is still
 * completing, or under writeback the disk finished, is not). */
void fl_check_pageflags(const char *id) {
  fl_settle();
  static unsigned long long pfns[KPFLAGS_MAX], flags[KPFLAGS_MAX], p2[KPFLAGS_MAX], f2[KPFLAGS_MAX];
  int n = 0, n2 = 0;
  unsigned long long frames = 0;
  long long found = kpageflags_pass(pfns, flags, KPFLAGS_MAX, &n, &frames);
  if (found < 0) return fl_reply(id, (int)-found);
  /* 20 passes 100 ms apart at most, while anything is still flagged: what stays is kept. */
  for (int pass = 0; pass < 20 && n > 0; pass++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    long long again = kpageflags_pass(p2, f2, KPFLAGS_MAX, &n2, &frames);
    if (again < 0) return fl_reply(id, (int)-again);
    int kept = 0;
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < n2; k++) {
        if (p2[k] != pfns[i]) continue;
        pfns[kept] = pfns[i];
        flags[kept] = f2[k];
        kept++;
        break;
      }
    }
    if (kept == n && again == found) break;
    n = kept;
    found = again < found ? again : found;
  }
  fl_strbuf j = {0};
  sb_printf(&j, "{\"frames\":%llu,\"pages\":[", frames);
  for (int i = 0; i < n; i++) sb_printf(&j, "%s[%llu,%llu]", i ? "," : "", pfns[i], flags[i]);
  sb_put(&j, "]", 1);
  if (n == KPFLAGS_MAX && found > n) sb_put(&j, ",\"cut\":true", 11);
  sb_put(&j, "}", 1);
  fl_reply_out(id, 0, NULL, &j);
  free(j.p);
}

/* kmemleak mode=baseline|check: baseline scans twice (an object is reported from its second
 * scan on: the first sees its checksum change) and clears what was found, so only objects
 * allocated after it can be reported; check waits out kmemleak's minimum age (5 s), scans twice
 * and answers the report (/sys/kernel/debug/kmemleak: each unreferenced object with its
 * backtrace). A kernel without kmemleak, or booted without kmemleak=on: the write's errno. */
#define KMEMLEAK "/sys/kernel/debug/kmemleak"
static int kmemleak_write(const char *what) {
  int fd = open(KMEMLEAK, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = write(fd, what, strlen(what)) < 0 ? errno : 0;
  close(fd);
  return rc;
}
void fl_check_kmemleak(const char *id, fl_msg *m) {
  const char *mode = fl_get(m, "mode");
  if (!mode) return fl_reply(id, EINVAL);
  int rc;
  if (strcmp(mode, "off-thread") == 0) return fl_reply(id, kmemleak_write("scan=off"));
  if (strcmp(mode, "baseline") == 0) {
    /* The same scans as the check's (without stacks), so what they would report now is cleared. */
    rc = kmemleak_write("stack=off");
    if (rc == 0) rc = kmemleak_write("scan");
    if (rc == 0) rc = kmemleak_write("scan");
    if (rc == 0) rc = kmemleak_write("clear");
    int on = kmemleak_write("stack=on");
    return fl_reply(id, rc ? rc : on);
  }
  if (strcmp(mode, "check") != 0) return fl_reply(id, EINVAL);
  struct timespec ts = {5, 500 * 1000 * 1000};
  nanosleep(&ts, NULL);
  fl_strbuf out = {0};
  /* Three rounds a second apart, each two scans and the report read, all answered: a leaked
   * object kmemleak sees as referenced in one round (a stale copy of its address somewhere it
   * scans, which later activity overwrites) is often seen in another (the proof test's planted
   * leak was missed by single rounds about half the time). Without the tasks' kernel stacks: at
   * rest no task is inside an operation, and stale frames there are such copies. The host
   * reports each object once. */
  for (int round = 0; round < 3; round++) {
    if (round) {
      struct timespec gap = {1, 0};
      nanosleep(&gap, NULL);
    }
    rc = kmemleak_write("stack=off");
    if (rc == 0) rc = kmemleak_write("scan");
    if (rc == 0) rc = kmemleak_write("scan");
    int on = kmemleak_write("stack=on");
    if (rc == 0) rc = on;
    if (rc) {
      free(out.p);
      return fl_reply(id, rc);
    }
    int fd = open(KMEMLEAK, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      free(out.p);
      return fl_reply(id, errno);
    }
    sb_read_all(&out, fd);
    close(fd);
  }
  fl_reply_out(id, 0, NULL, &out);
  free(out.p);
}

/* heldlocks: lockdep's list of every lock held in the system, printed to the kernel log (SysRq
 * d, debug_show_all_locks); the reply's `tasks` are the plan tasks' threads that are in user
 * space (not inside an operation): a lock one of them holds was kept past the return to user
 * space. (The agent's other threads are inside system calls: the channel's read, this write.) */
void fl_check_held_locks(const char *id) {
  char tids[1024];
  fl_ops_idle_tids(tids, sizeof tids);
  int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fl_reply(id, errno);
  int rc = write(fd, "d", 1) < 0 ? errno : 0;
  close(fd);
  fl_send("RES id=%s rc=%d tasks=%s", id, rc, tids);
}
