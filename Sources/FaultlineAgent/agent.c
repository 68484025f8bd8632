/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent's main loop: set up the guest (mounts, writeback tuning), open the channel, say READY,
 * read requests and hand them out: operations to task threads (ops.c), queries to the query thread
 * (query.c). See agent.h for the protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int chan = -1;
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- strings ---- */

void sb_put(fl_strbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) abort(); /* the guest is out of memory: nothing sensible is left to say */
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void sb_printf(fl_strbuf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) abort();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

void sb_json_string(fl_strbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      sb_put(b, e, 2);
    } else if (*p < 0x20) {
      sb_printf(b, "\\u%04x", *p);
    } else {
      sb_put(b, (const char *)p, 1);
    }
  }
  sb_put(b, "\"", 1);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(fl_strbuf *b, const uint8_t *d, size_t n) {
  char out[4];
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16;
    if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
    if (i + 2 < n) v |= d[i + 2];
    out[0] = b64[(v >> 18) & 63];
    out[1] = b64[(v >> 12) & 63];
    out[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[3] = i + 2 < n ? b64[v & 63] : '=';
    sb_put(b, out, 4);
  }
}

/* ---- the channel ---- */

static void chan_write(const char *s, size_t n) {
  pthread_mutex_lock(&chan_lock);
  size_t done = 0;
  /* Bounded: a channel that accepts nothing for a million tries is gone. */
  for (int tries = 0; done < n && tries < 1000000; tries++) {
    ssize_t w = write(chan, s + done, n - done);
    if (w > 0) {
      done += (size_t)w;
    } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
      break;
    }
  }
  pthread_mutex_unlock(&chan_lock);
}

void fl_send(const char *fmt, ...) {
  fl_strbuf b = {0};
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  sb_put(&b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
  sb_put(&b, "\n", 1);
  chan_write(b.p, b.len);
  free(b.p);
}

void fl_send_data(const char *head, const char *key, const uint8_t *data, size_t len) {
  fl_strbuf b = {0};
  sb_printf(&b, "%s %s=", head, key);
  base64(&b, data, len);
  sb_put(&b, "\n", 1);
  chan_write(b.p, b.len);
  free(b.p);
}

/* ---- requests ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void pct_decode(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
      *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
}

int fl_parse(char *line, fl_msg *m) {
  memset(m, 0, sizeof *m);
  m->line = line;
  char *save = NULL;
  m->verb = strtok_r(line, " ", &save);
  if (!m->verb) return -1;
  for (char *t = strtok_r(NULL, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
    if (m->n == FL_MAX_TOKENS) return -2; /* more than a request may carry: refused, not cut */
    char *eq = strchr(t, '=');
    if (!eq) return -1;
    *eq = 0;
    pct_decode(eq + 1);
    m->kv[m->n].key = t;
    m->kv[m->n].value = eq + 1;
    m->n++;
  }
  return 0;
}

const char *fl_get(const fl_msg *m, const char *key) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->kv[i].key, key) == 0) return m->kv[i].value;
  return NULL;
}

unsigned long long fl_get_u64(const fl_msg *m, const char *key, unsigned long long dflt) {
  const char *v = fl_get(m, key);
  return v ? strtoull(v, NULL, 10) : dflt;
}

/* ---- queries: one thread, a bounded queue ---- */

#define QUERY_QUEUE 64
static fl_msg *queries[QUERY_QUEUE];
static int q_head, q_len;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;

static void *query_thread(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&q_lock);
    while (q_len == 0) pthread_cond_wait(&q_cond, &q_lock);
    fl_msg *m = queries[q_head];
    q_head = (q_head + 1) % QUERY_QUEUE;
    q_len--;
    pthread_mutex_unlock(&q_lock);
    fl_query(m);
    free(m->line);
    free(m);
  }
  return NULL;
}

static void enqueue_query(fl_msg *m) {
  pthread_mutex_lock(&q_lock);
  if (q_len == QUERY_QUEUE) {
    pthread_mutex_unlock(&q_lock);
    fl_send("RES id=%s rc=%d", fl_get(m, "id") ? fl_get(m, "id") : "0", EBUSY);
    free(m->line);
    free(m);
    return;
  }
  queries[(q_head + q_len) % QUERY_QUEUE] = m;
  q_len++;
  pthread_cond_signal(&q_cond);
  pthread_mutex_unlock(&q_lock);
}

/* ---- init ---- */

static void write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, value, strlen(value)) < 0) { /* best effort: a knob this kernel lacks */
  }
  close(fd);
}

/* The disk's completed reads, writes and flushes plus requests in flight, from sysfs; -1 when
 * unreadable (no such disk yet). */
static long long disk_activity(long long *inflight) {
  char buf[512];
  *inflight = 0;
  int fd = open("/sys/block/ubda/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0); /* no file-position lock: see the control op */
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* Fields: reads, r-merged, r-sectors, r-ticks, writes, w-merged, w-sectors, w-ticks, in-flight,
   * io-ticks, queue-time, discards x4, flushes, flush-ticks. */
  unsigned long long f[17] = {0};
  int got = sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11], &f[12],
                   &f[13], &f[14], &f[15], &f[16]);
  if (got < 9) return -1;
  *inflight = (long long)f[8];
  return (long long)(f[0] + f[4] + (got >= 16 ? f[15] : 0));
}

void fl_settle(void) {
  long long inflight, last = disk_activity(&inflight);
  if (last < 0) return;
  int quiet = 0;
  /* At most 400 polls of 5 ms; quiet after 3 polls with nothing in flight and nothing new. */
  for (int i = 0; i < 400 && quiet < 3; i++) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    long long now = disk_activity(&inflight);
    quiet = (now == last && inflight == 0) ? quiet + 1 : 0;
    last = now;
  }
}

static void setup_guest(void) {
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
  mount("tmpfs", "/tmp", "tmpfs", 0, "size=64m");
  mount("tmpfs", "/run", "tmpfs", 0, "size=8m");
  /* Writeback happens when a plan asks for it (fsync, writeback, sync), not on a timer: hit
   * numbers of the disk's points then depend on the plan, not on when the flusher woke. */
  write_file("/proc/sys/vm/dirty_writeback_centisecs", "0");
  write_file("/proc/sys/vm/dirty_expire_centisecs", "8640000");
  write_file("/proc/sys/vm/dirty_background_ratio", "90");
  write_file("/proc/sys/vm/dirty_ratio", "90");
  /* A task blocked for 20 s is reported (the host gives up on an operation at 60 s). */
  write_file("/proc/sys/kernel/hung_task_timeout_secs", "20");
  /* Every kernel message reaches /dev/kmsg; the console gets only emergencies. */
  write_file("/proc/sys/kernel/printk", "1 4 1 7");
}

static int open_channel(const char *dev) {
  int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct termios t;
  if (tcgetattr(fd, &t) == 0) {
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &t);
  }
  return fd;
}

static void power_off(void) {
  sync();
  reboot(RB_POWER_OFF);
  _exit(0);
}

int main(int argc, char **argv) {
  (void)argc, (void)argv;
  signal(SIGPIPE, SIG_IGN);
  if (getpid() == 1) setup_guest();
  chan = open_channel("/dev/tty1");
  if (chan < 0) {
    fprintf(stderr, "fl-agent: cannot open /dev/tty1: %s\n", strerror(errno));
    power_off();
  }
  pthread_t q;
  pthread_create(&q, NULL, query_thread, NULL);
  struct utsname u;
  uname(&u);
  fl_send("READY agent=%d kernel=%s", FL_AGENT_VERSION, u.release);

  fl_strbuf line = {0};
  int cut = 0; /* the line being read was longer than FL_MAX_LINE */
  char buf[65536];
  for (;;) {
    ssize_t n = read(chan, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* the host went away */
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (line.len < FL_MAX_LINE) sb_put(&line, &buf[i], 1);
        else cut = 1;
        continue;
      }
      fl_msg *m = calloc(1, sizeof *m);
      char *text = line.p ? line.p : strdup("");
      line = (fl_strbuf){0};
      int parsed = m && text ? fl_parse(text, m) : -1;
      if (parsed != 0 || cut) {
        /* A request too long or with too many fields is refused, never run cut short; its
         * reply carries its id when that much could be read, so the host is not left waiting. */
        const char *id = parsed != -1 && m ? fl_get(m, "id") : NULL;
        if (id) fl_send("%s id=%s rc=%d", strcmp(m->verb, "OP") == 0 ? "DONE" : "RES", id, E2BIG);
        else fl_send("ERR what=unparsable");
        cut = 0;
        free(text);
        free(m);
        continue;
      }
      if (strcmp(m->verb, "OP") == 0) {
        fl_op_dispatch(m); /* takes m */
      } else if (strcmp(m->verb, "Q") == 0) {
        enqueue_query(m);
      } else if (strcmp(m->verb, "POWEROFF") == 0) {
        power_off();
      } else {
        fl_send("ERR what=unknown-verb");
        free(text);
        free(m);
      }
    }
  }
  power_off();
  return 0;
}
