/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent's io.submit: the kernel's fail_make_request on the plan's disk (Documentation/
 * fault-injection/fault-injection.rst), counted and armed around the plan's operations.
 *
 * Counting. should_fail_request (block/blk-core.c) is asked once per bio submit_bio_noacct takes
 * for a disk whose make-it-fail is set: each bio a filesystem submits, and again for the rest of
 * a bio split to the queue's limits. The tracepoints block_bio_queue (each bio, once) and
 * block_split (each split, just before the rest is submitted again) see the same calls, in the
 * same order, apart from the call that is failed (it never reaches block_bio_queue). The events
 * of the plan's disk are traced while an operation runs; the ring buffer's counts (entries and
 * overrun per CPU) are the calls.
 *
 * Failing the Nth. should_fail (lib/fault-inject.c) with probability 100, times 1, space 0 and
 * interval N counts each call in a private counter and fails the one at which it is a multiple
 * of N; times then drops to 0 and nothing else fails or is counted. The counter cannot be read
 * or reset, so before the plan the agent brings it to a multiple of N itself: it reads the disk
 * (one 4KiB O_DIRECT read, one bio) until a read fails, at most N times. The plan's Nth call
 * after that is the one failed.
 *
 * Query `submit op=begin dev=D nth=N` (N 0: count only), `op=on`, `op=off` (both reply
 * count=C fired=F), `op=count`, `op=end`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

#define FMR "/sys/kernel/debug/fail_make_request/"
#define TRACING "/sys/kernel/debug/tracing/"

static int armed;     /* a failure is set up for this plan */
static char make_it_fail[128];

static int put(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, value, strlen(value));
  int rc = n < 0 ? errno : 0;
  close(fd);
  return rc;
}

static long long get(const char *path) {
  char buf[64];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return strtoll(buf, NULL, 10);
}

/* Events written to the ring buffer since it was cleared: per CPU, those still in it and those
 * overwritten. -1 when the counts cannot be read. */
static long long traced(void) {
  long long total = 0;
  int cpus = 0;
  for (int cpu = 0; cpu < 64; cpu++) {
    char path[128];
    snprintf(path, sizeof path, TRACING "per_cpu/cpu%d/stats", cpu);
    FILE *f = fopen(path, "re");
    if (!f) break;
    cpus++;
    char line[128];
    long long v;
    while (fgets(line, sizeof line, f)) {
      if (sscanf(line, "entries: %lld", &v) == 1 || sscanf(line, "overrun: %lld", &v) == 1) total += v;
    }
    fclose(f);
  }
  return cpus ? total : -1;
}

/* The two block events of the disk `dev`, and nothing else, into an empty buffer, tracing off. */
static int trace_setup(const char *dev) {
  struct stat st;
  if (stat(dev, &st) != 0) return errno;
  /* The kernel's dev_t in trace events: major << 20 | minor. */
  char filter[64];
  snprintf(filter, sizeof filter, "dev == %llu",
           ((unsigned long long)major(st.st_rdev) << 20) | (unsigned long long)minor(st.st_rdev));
  int rc = put(TRACING "tracing_on", "0");
  if (!rc) rc = put(TRACING "current_tracer", "nop");
  if (!rc) rc = put(TRACING "buffer_size_kb", "2048");
  if (!rc) rc = put(TRACING "set_event", ""); /* O_TRUNC of set_event disables every event */
  if (!rc) rc = put(TRACING "events/block/block_bio_queue/filter", filter);
  if (!rc) rc = put(TRACING "events/block/block_split/filter", filter);
  if (!rc) rc = put(TRACING "events/block/block_bio_queue/enable", "1");
  if (!rc) rc = put(TRACING "events/block/block_split/enable", "1");
  if (!rc) rc = put(TRACING "trace", "");
  return rc;
}

/* Brings fail_make_request's private counter to a multiple of `nth` (interval nth, times 1 and
 * make-it-fail set): reads block 0 of the disk until a read fails. 0, or EIO when none failed in
 * nth reads (something else took the failure). */
static int sync_counter(const char *dev, unsigned nth) {
  int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return errno;
  void *buf = NULL;
  if (posix_memalign(&buf, 4096, 4096) != 0) {
    close(fd);
    return ENOMEM;
  }
  int rc = EIO;
  for (unsigned k = 0; k < nth; k++) {
    if (pread(fd, buf, 4096, 0) < 0 && errno == EIO) {
      rc = 0;
      break;
    }
  }
  free(buf);
  close(fd);
  return rc;
}

static int begin(const char *dev, unsigned nth) {
  const char *name = strrchr(dev, '/');
  snprintf(make_it_fail, sizeof make_it_fail, "/sys/block/%s/make-it-fail", name ? name + 1 : dev);
  armed = 0;
  int rc = put(make_it_fail, "0");
  if (!rc) rc = put(FMR "probability", "0");
  if (!rc) rc = put(FMR "verbose", "0");
  if (!rc) rc = put(FMR "space", "0");
  if (!rc) rc = put(FMR "task-filter", "N");
  if (!rc) rc = put(FMR "verbose_ratelimit_interval_ms", "0"); /* every failure said */
  if (!rc) rc = trace_setup(dev);
  if (rc || nth == 0) return rc;
  char n[32];
  snprintf(n, sizeof n, "%u", nth);
  rc = put(FMR "interval", n);
  if (!rc) rc = put(FMR "times", "1");
  if (!rc) rc = put(FMR "probability", "100");
  /* interval 1 fails the first call without counting: nothing to bring in step. */
  if (!rc && nth > 1) {
    rc = put(make_it_fail, "1");
    if (!rc) rc = sync_counter(dev, nth);
    put(make_it_fail, "0");
    if (!rc && get(FMR "times") != 0) rc = EIO;
    if (!rc) rc = put(FMR "times", "1");
  }
  if (!rc) rc = put(FMR "verbose", "1");
  if (!rc) armed = 1;
  return rc;
}

static void reply_count(const char *id, int rc) {
  long long c = traced();
  long long times = get(FMR "times");
  int fired = armed && times == 0;
  /* The failed call never reached block_bio_queue: it is one more. */
  fl_send("RES id=%s rc=%d count=%lld fired=%d", id, rc ? rc : (c < 0 ? ENOENT : 0), c < 0 ? -1 : c + fired, fired);
}

void fl_submit_query(const char *id, fl_msg *m) {
  const char *op = fl_get(m, "op");
  if (!op) return fl_send("RES id=%s rc=%d", id, EINVAL);
  if (strcmp(op, "begin") == 0) {
    const char *dev = fl_get(m, "dev");
    if (!dev) return fl_send("RES id=%s rc=%d", id, EINVAL);
    return fl_send("RES id=%s rc=%d", id, begin(dev, (unsigned)fl_get_u64(m, "nth", 0)));
  }
  if (strcmp(op, "on") == 0) {
    int rc = armed ? put(make_it_fail, "1") : 0;
    if (!rc) rc = put(TRACING "tracing_on", "1");
    return fl_send("RES id=%s rc=%d", id, rc);
  }
  if (strcmp(op, "off") == 0) {
    int rc = put(TRACING "tracing_on", "0");
    if (make_it_fail[0] && put(make_it_fail, "0") && !rc) rc = EIO;
    return reply_count(id, rc);
  }
  if (strcmp(op, "count") == 0) return reply_count(id, 0);
  if (strcmp(op, "end") == 0) {
    int rc = put(TRACING "tracing_on", "0");
    if (make_it_fail[0]) put(make_it_fail, "0");
    put(FMR "probability", "0");
    put(FMR "verbose", "0");
    put(FMR "interval", "1");
    put(FMR "times", "1");
    put(TRACING "events/block/block_bio_queue/enable", "0");
    put(TRACING "events/block/block_split/enable", "0");
    /* The events stay in the buffer until the next begin (a test reads them). */
    armed = 0;
    return fl_send("RES id=%s rc=%d", id, rc);
  }
  fl_send("RES id=%s rc=%d", id, EINVAL);
}
