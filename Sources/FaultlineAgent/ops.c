/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent's operations: one thread per plan task, each with its own open file descriptions (so a
 * writeback error is reported per task, as errseq reports it per file description), carrying out
 * the plan's operations as an application would: pwrite, pread, fsync, sync_file_range, fallocate,
 * ftruncate, mmap stores, O_DIRECT I/O, unlink, rename … Each reply is DONE id=N rc=ERRNO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent.h"
#include "faultline.h"

#define MAX_TASKS 32
#define MAX_FILES 64
#define TASK_QUEUE 16
#define PAGE 4096ULL
/* One operation moves at most this many bytes (a plan's sizes are validated smaller). */
#define MAX_IO (64ULL << 20)

typedef struct open_file {
  char path[256];
  int fd;     /* buffered */
  int dio_fd; /* O_DIRECT */
  int ro_fd;  /* read-only, for reads of a filesystem that went read-only (EROFS on O_RDWR) */
} open_file;

typedef struct task {
  char name[64];
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  fl_msg *queue[TASK_QUEUE];
  int head, len;
  open_file files[MAX_FILES];
  int n_files;
  int reset; /* close every file before the next operation */
  int busy;  /* inside an operation (or closing files) */
  long tid;  /* the thread's id, as the kernel's reports name it (0 until it runs) */
} task;

/* mem.alloc: the kernel's fail-nth of the task thread running an operation. The host asks for
 * counting (nth=0) or for the Kth injectable allocation of the operation to fail (nth=K). The
 * thread writes the number to its own /proc/thread-self/fail-nth just before the operation's
 * system call and reads it back just after: the kernel counts down once per allocation that
 * failslab or fail_page_alloc may fail (the engine configures both so that fail-nth applies to
 * every allocation that is allowed to fail), and fails the allocation at which it reaches 0. The
 * difference is the operation's count; after the failed call counting stops (fail-nth is 0). */
#define FAIL_COUNT_ONLY 1000000000u
typedef struct fail_nth {
  int requested; /* the host asked: count (and maybe fail) this operation's allocations */
  unsigned want; /* 0: count only */
  unsigned written;
  int fd; /* /proc/thread-self/fail-nth, opened on first use; -1: unavailable */
  int opened;
  int begun;        /* fail_begin ran for this operation, fail_end not yet */
  long long allocs; /* counted; -1: could not count */
  int failed;
} fail_nth;
static __thread fail_nth fnth;

/* Just before the operation's system call. */
static void fail_begin(void) {
  if (!fnth.requested) return;
  if (!fnth.opened) {
    fnth.opened = 1;
    fnth.fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
  }
  fnth.allocs = -1;
  fnth.failed = 0;
  if (fnth.fd < 0) return;
  char buf[32];
  fnth.written = fnth.want ? fnth.want : FAIL_COUNT_ONLY;
  int n = snprintf(buf, sizeof buf, "%u", fnth.written);
  fnth.begun = pwrite(fnth.fd, buf, (size_t)n, 0) == n;
}

/* Just after it: what the kernel counted, and fail-nth back to 0 (nothing else of the thread's
 * is counted or failed). */
static void fail_end(void) {
  if (!fnth.begun) return;
  fnth.begun = 0;
  char buf[32];
  ssize_t n = pread(fnth.fd, buf, sizeof buf - 1, 0);
  if (pwrite(fnth.fd, "0", 1, 0) != 1) { /* the next fail_begin writes it again */
  }
  if (n <= 0) return;
  buf[n] = 0;
  unsigned long left = strtoul(buf, NULL, 10);
  if (left > fnth.written) return;
  fnth.failed = left == 0 && fnth.want != 0;
  fnth.allocs = (long long)(fnth.written - left);
}

/* ` allocs=C failed=F` for the reply, or nothing when the host did not ask. */
static void fail_fields(char *out, size_t n) {
  if (!fnth.requested) {
    out[0] = 0;
  } else if (fnth.allocs < 0) {
    snprintf(out, n, " allocs=none");
  } else {
    snprintf(out, n, " allocs=%lld failed=%d", fnth.allocs, fnth.failed);
  }
}

/* A system call of the operation, its allocations counted (errno kept across the read back). */
#define COUNTED(call)              \
  ({                               \
    fail_begin();                  \
    long counted_r = (long)(call); \
    int counted_e = errno;         \
    fail_end();                    \
    errno = counted_e;             \
    counted_r;                     \
  })

static task tasks[MAX_TASKS];
static int n_tasks;
static pthread_mutex_t tasks_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread sigjmp_buf *bus_jump;

static void on_sigbus(int sig) {
  (void)sig;
  if (bus_jump) siglongjmp(*bus_jump, 1);
  _exit(99);
}

static void full_path(char *out, size_t n, const char *path) { snprintf(out, n, "%s%s", FL_MNT, path); }

static void close_all(task *t) {
  for (int i = 0; i < t->n_files; i++) {
    if (t->files[i].fd >= 0) close(t->files[i].fd);
    if (t->files[i].dio_fd >= 0) close(t->files[i].dio_fd);
    if (t->files[i].ro_fd >= 0) close(t->files[i].ro_fd);
  }
  t->n_files = 0;
}

static void forget(task *t, const char *path) {
  for (int i = 0; i < t->n_files; i++) {
    if (strcmp(t->files[i].path, path) != 0) continue;
    if (t->files[i].fd >= 0) close(t->files[i].fd);
    if (t->files[i].dio_fd >= 0) close(t->files[i].dio_fd);
    if (t->files[i].ro_fd >= 0) close(t->files[i].ro_fd);
    t->files[i] = t->files[--t->n_files];
    return;
  }
}

/* The task's descriptor of `path` (opened on first use); -errno when it cannot be opened. A read
 * (`reading`) of a filesystem that went read-only (after an error: btrfs aborts its transaction,
 * ext4 remounts read-only) opens it read-only instead: reads must still work there, and an
 * EROFS from the open is not the read's answer. */
static int file_fd(task *t, const char *path, int direct, int create, int reading) {
  open_file *f = NULL;
  for (int i = 0; i < t->n_files; i++)
    if (strcmp(t->files[i].path, path) == 0) f = &t->files[i];
  if (!f) {
    if (t->n_files == MAX_FILES) return -EMFILE;
    f = &t->files[t->n_files++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = f->dio_fd = f->ro_fd = -1;
  }
  int *slot = direct ? &f->dio_fd : &f->fd;
  if (*slot >= 0) return *slot;
  char full[512];
  full_path(full, sizeof full, path);
  int flags = O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0) | (create ? O_CREAT : 0);
  int fd = open(full, flags, 0644);
  if (fd < 0 && errno == EROFS && reading) {
    if (f->ro_fd >= 0) return f->ro_fd;
    fd = open(full, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0) {
      int e = errno;
      if (f->fd < 0 && f->dio_fd < 0 && f->ro_fd < 0) *f = t->files[--t->n_files];
      return -e;
    }
    f->ro_fd = fd;
    return fd;
  }
  if (fd < 0) {
    int e = errno;
    /* An entry that holds nothing goes: failed opens of many paths must not fill the table. */
    if (f->fd < 0 && f->dio_fd < 0 && f->ro_fd < 0) *f = t->files[--t->n_files];
    return -e;
  }
  *slot = fd;
  return fd;
}

static int stamped_write(int fd, const char *path, unsigned long long off, unsigned long long len, unsigned gen,
                         int pattern, int direct) {
  if (len > MAX_IO) return EFBIG;
  uint8_t *buf = NULL;
  if (posix_memalign((void **)&buf, PAGE, len ? len : 1) != 0) return ENOMEM;
  fl_stamp_fill(buf, len, off, fl_stamp_file_id(path), gen, (uint8_t)pattern);
  int rc = 0;
  fail_begin();
  unsigned long long done = 0;
  /* A short write goes on where it stopped; bounded by the bytes left. */
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = errno;
      break;
    }
    if (n == 0) {
      rc = EIO;
      break;
    }
    done += (unsigned long long)n;
    /* O_DIRECT goes on only from a block boundary; a short write that ends inside a block cannot
     * be continued as direct I/O: the write did not complete, and the plan hears EIO. */
    if (direct && done < len && done % PAGE != 0) {
      rc = EIO;
      break;
    }
  }
  fail_end();
  free(buf);
  return rc;
}

static void reply_read(const char *id, int fd, unsigned long long off, long long want, int direct) {
  struct stat st;
  char counted[64];
  fail_fields(counted, sizeof counted); /* nothing counted before the read */
  if (fstat(fd, &st) != 0) {
    fl_send("DONE id=%s rc=%d%s", id, errno, counted);
    return;
  }
  unsigned long long size = (unsigned long long)st.st_size;
  unsigned long long len = want >= 0 ? (unsigned long long)want : (size > off ? size - off : 0);
  if (direct) len = (len + PAGE - 1) / PAGE * PAGE;
  if (len > MAX_IO) {
    fl_send("DONE id=%s rc=%d%s", id, EFBIG, counted);
    return;
  }
  uint8_t *buf = NULL;
  if (posix_memalign((void **)&buf, PAGE, len ? len : 1) != 0) {
    fl_send("DONE id=%s rc=%d%s", id, ENOMEM, counted);
    return;
  }
  /* Touched now, so the read's count holds the kernel's allocations, not the faults of a fresh
   * buffer. */
  memset(buf, 0, len ? len : 1);
  unsigned long long got = 0;
  int rc = 0;
  fail_begin();
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = errno;
      break;
    }
    if (n == 0) break;
    got += (unsigned long long)n;
    if (direct) break;
  }
  fail_end();
  /* O_DIRECT reads whole blocks: hand back no more than the file holds. */
  if (direct && off + got > size) got = size > off ? size - off : 0;
  fl_settle();
  char head[128];
  fail_fields(counted, sizeof counted);
  snprintf(head, sizeof head, "DONE id=%s rc=%d%s", id, rc, counted);
  if (rc) {
    fl_send("%s", head);
  } else {
    fl_send_data(head, "data", buf, got);
  }
  free(buf);
}

static int mmap_store(int fd, const char *path, unsigned long long off, unsigned long long len, unsigned gen,
                      int pattern) {
  if (len == 0) return 0;
  if (len > MAX_IO) return EFBIG;
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  /* A store past EOF is SIGBUS in an application: say EFAULT instead. */
  if (off + len > (unsigned long long)st.st_size) return EFAULT;
  unsigned long long start = off / PAGE * PAGE;
  size_t maplen = (size_t)(off + len - start);
  fail_begin();
  uint8_t *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
  if (m == MAP_FAILED) {
    int e = errno;
    fail_end();
    return e;
  }
  sigjmp_buf jump;
  int rc = 0;
  if (sigsetjmp(jump, 1) == 0) {
    bus_jump = &jump;
    uint32_t id = fl_stamp_file_id(path);
    for (unsigned long long i = 0; i < len; i++) m[off - start + i] = fl_stamp_byte(off + i, id, gen, (uint8_t)pattern);
  } else {
    rc = EIO; /* the page could not be read in or mapped writable (page_mkwrite failed) */
  }
  bus_jump = NULL;
  munmap(m, maplen);
  fail_end();
  return rc;
}

static int fallocate_mode(const char *mode) {
  if (!mode || !*mode) return 0;
  int flags = 0;
  char copy[128];
  snprintf(copy, sizeof copy, "%s", mode);
  char *save = NULL;
  for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
    if (strcmp(w, "keep-size") == 0) {
      flags |= FALLOC_FL_KEEP_SIZE;
    } else {
      return -1;
    }
  }
  return flags;
}

/* Carries out one operation and replies. */
static void perform(task *t, fl_msg *m) {
  const char *id = fl_get(m, "id");
  const char *kind = fl_get(m, "kind");
  const char *path = fl_get(m, "path");
  if (!id || !kind || !path || path[0] != '/') {
    fl_send("DONE id=%s rc=%d", id ? id : "0", EINVAL);
    return;
  }
  unsigned long long off = fl_get_u64(m, "offset", 0), len = fl_get_u64(m, "length", 0);
  unsigned gen = (unsigned)fl_get_u64(m, "generation", 0);
  int pattern = (int)fl_get_u64(m, "pattern", 0xA5);
  char full[512];
  full_path(full, sizeof full, path);
  /* nth=K: count this operation's allocations, and fail the Kth (0: only count). */
  const char *nth = fl_get(m, "nth");
  fnth.requested = nth != NULL;
  fnth.want = nth ? (unsigned)strtoul(nth, NULL, 10) : 0;
  fnth.allocs = 0;
  fnth.failed = 0;
  fnth.begun = 0;
  int rc = 0;
  int fd;
  if (strcmp(kind, "control") == 0) {
    /* A kernel control file (debugfs, /proc, /sys), not a plan file: the value written, in this
     * task, as one pwrite at offset 0 (which, unlike write, takes no file-position lock around
     * the control's code: lockdep then sees only the locks the control takes). */
    const char *value = fl_get(m, "value");
    fd = value ? open(path, O_WRONLY | O_CLOEXEC) : -1;
    if (!value) {
      rc = EINVAL;
    } else if (fd < 0) {
      rc = errno;
    } else {
      rc = pwrite(fd, value, strlen(value), 0) < 0 ? errno : 0;
      close(fd);
    }
  } else if (strcmp(kind, "create") == 0) {
    forget(t, path);
    fail_begin();
    fd = open(full, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    rc = fd < 0 ? errno : (close(fd), 0);
    fail_end();
  } else if (strcmp(kind, "mkdir") == 0) {
    rc = COUNTED(mkdir(full, 0755)) ? errno : 0;
  } else if (strcmp(kind, "unlink") == 0) {
    forget(t, path);
    rc = COUNTED(unlink(full)) ? errno : 0;
  } else if (strcmp(kind, "rename") == 0 || strcmp(kind, "link") == 0 || strcmp(kind, "symlink") == 0) {
    const char *target = fl_get(m, "target");
    char tfull[512];
    if (!target) {
      rc = EINVAL;
    } else if (strcmp(kind, "symlink") == 0) {
      rc = COUNTED(symlink(target, full)) ? errno : 0;
    } else {
      full_path(tfull, sizeof tfull, target);
      if (strcmp(kind, "rename") == 0) {
        forget(t, path);
        forget(t, target);
        rc = COUNTED(rename(full, tfull)) ? errno : 0;
      } else {
        rc = COUNTED(link(tfull, full)) ? errno : 0;
      }
    }
  } else if (strcmp(kind, "setxattr") == 0 || strcmp(kind, "removexattr") == 0) {
    const char *name = fl_get(m, "name"), *value = fl_get(m, "value");
    if (!name) {
      rc = EINVAL;
    } else if (kind[0] == 's') {
      rc = COUNTED(setxattr(full, name, value ? value : "", value ? strlen(value) : 0, 0)) ? errno : 0;
    } else {
      rc = COUNTED(removexattr(full, name)) ? errno : 0;
    }
  } else {
    int direct = strcmp(kind, "dio-write") == 0 || strcmp(kind, "dio-read") == 0;
    fd = file_fd(t, path, direct, 0, strcmp(kind, "read") == 0 || strcmp(kind, "dio-read") == 0);
    if (fd < 0) {
      rc = -fd;
    } else if (strcmp(kind, "write") == 0 || strcmp(kind, "dio-write") == 0) {
      rc = stamped_write(fd, path, off, len, gen, pattern, direct);
    } else if (strcmp(kind, "append") == 0) {
      struct stat st;
      rc = fstat(fd, &st) ? errno : stamped_write(fd, path, (unsigned long long)st.st_size, len, gen, pattern, 0);
    } else if (strcmp(kind, "read") == 0 || strcmp(kind, "dio-read") == 0) {
      reply_read(id, fd, off, fl_get(m, "length") ? (long long)len : -1, direct);
      return;
    } else if (strcmp(kind, "fsync") == 0) {
      rc = COUNTED(fsync(fd)) ? errno : 0;
    } else if (strcmp(kind, "writeback") == 0) {
      unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
      rc = COUNTED(sync_file_range(fd, (off_t)off, (off_t)len, flags)) ? errno : 0;
    } else if (strcmp(kind, "punch") == 0) {
      rc = COUNTED(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len)) ? errno : 0;
    } else if (strcmp(kind, "zero-range") == 0) {
      rc = COUNTED(fallocate(fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len)) ? errno : 0;
    } else if (strcmp(kind, "fallocate") == 0) {
      int mode = fallocate_mode(fl_get(m, "mode"));
      rc = mode < 0 ? EOPNOTSUPP : COUNTED(fallocate(fd, mode, (off_t)off, (off_t)len)) ? errno : 0;
    } else if (strcmp(kind, "truncate") == 0) {
      rc = COUNTED(ftruncate(fd, (off_t)fl_get_u64(m, "size", 0))) ? errno : 0;
    } else if (strcmp(kind, "mmap-write") == 0 || strcmp(kind, "page-mkwrite") == 0) {
      rc = mmap_store(fd, path, off, len, gen, pattern);
    } else if (strcmp(kind, "drop-caches") == 0) {
      rc = (int)COUNTED(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
    } else {
      rc = EOPNOTSUPP;
    }
  }
  fl_settle();
  char counted[64];
  fail_fields(counted, sizeof counted);
  fl_send("DONE id=%s rc=%d%s", id, rc, counted);
}

static void *task_main(void *arg) {
  task *t = arg;
  pthread_mutex_lock(&t->lock);
  t->tid = (long)syscall(SYS_gettid);
  pthread_mutex_unlock(&t->lock);
  for (;;) {
    pthread_mutex_lock(&t->lock);
    while (t->len == 0) pthread_cond_wait(&t->cond, &t->lock);
    fl_msg *m = t->queue[t->head];
    t->head = (t->head + 1) % TASK_QUEUE;
    t->len--;
    int reset = t->reset;
    t->busy = 1;
    pthread_mutex_unlock(&t->lock);
    if (reset) close_all(t);
    if (m) perform(t, m);
    if (m) {
      free(m->line);
      free(m);
    }
    pthread_mutex_lock(&t->lock);
    if (reset) t->reset = 0;
    t->busy = 0;
    pthread_mutex_unlock(&t->lock);
  }
  return NULL;
}

static task *task_named(const char *name) {
  pthread_mutex_lock(&tasks_lock);
  for (int i = 0; i < n_tasks; i++) {
    if (strcmp(tasks[i].name, name) == 0) {
      pthread_mutex_unlock(&tasks_lock);
      return &tasks[i];
    }
  }
  if (n_tasks == MAX_TASKS) {
    pthread_mutex_unlock(&tasks_lock);
    return NULL;
  }
  task *t = &tasks[n_tasks];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  if (pthread_create(&t->thread, NULL, task_main, t) != 0) {
    pthread_mutex_unlock(&tasks_lock);
    return NULL;
  }
  n_tasks++;
  pthread_mutex_unlock(&tasks_lock);
  return t;
}

void fl_op_dispatch(fl_msg *m) {
  static int sigbus_set;
  if (!sigbus_set) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    sigbus_set = 1;
  }
  const char *id = fl_get(m, "id");
  const char *name = fl_get(m, "task");
  task *t = name ? task_named(name) : NULL;
  pthread_mutex_lock(t ? &t->lock : &tasks_lock);
  int full = !t || t->len == TASK_QUEUE;
  if (!full) {
    t->queue[(t->head + t->len) % TASK_QUEUE] = m;
    t->len++;
    pthread_cond_signal(&t->cond);
  }
  pthread_mutex_unlock(t ? &t->lock : &tasks_lock);
  if (full) {
    fl_send("DONE id=%s rc=%d", id ? id : "0", t ? EBUSY : EINVAL);
    free(m->line);
    free(m);
  }
}

/* Closes every task's files, waiting (a bounded time) until each task has; returns 0 or EBUSY
 * when a task is still inside an operation (a hung one: its files stay open). */
int fl_ops_reset(void) {
  pthread_mutex_lock(&tasks_lock);
  for (int i = 0; i < n_tasks; i++) {
    task *t = &tasks[i];
    pthread_mutex_lock(&t->lock);
    t->reset = 1;
    /* An empty item wakes the thread to close its files now (NULL: nothing to perform). */
    if (t->len < TASK_QUEUE) {
      t->queue[(t->head + t->len) % TASK_QUEUE] = NULL;
      t->len++;
      pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
  }
  int n = n_tasks;
  pthread_mutex_unlock(&tasks_lock);
  /* 5 s in 10 ms steps. */
  for (int waited = 0; waited < 500; waited++) {
    int busy = 0;
    for (int i = 0; i < n; i++) {
      pthread_mutex_lock(&tasks[i].lock);
      busy |= tasks[i].len > 0 || tasks[i].reset || tasks[i].busy;
      pthread_mutex_unlock(&tasks[i].lock);
    }
    if (!busy) return 0;
    usleep(10000);
  }
  return EBUSY;
}

/* The thread ids of the tasks that are not inside an operation (in user space, waiting for the
 * next), comma-separated, into `out` (at most `n` bytes). */
void fl_ops_idle_tids(char *out, size_t n) {
  size_t used = 0;
  out[0] = 0;
  pthread_mutex_lock(&tasks_lock);
  for (int i = 0; i < n_tasks; i++) {
    task *t = &tasks[i];
    pthread_mutex_lock(&t->lock);
    int idle = !t->busy && t->len == 0 && t->tid != 0;
    long tid = t->tid;
    pthread_mutex_unlock(&t->lock);
    if (!idle) continue;
    int w = snprintf(out + used, n - used, "%s%ld", used ? "," : "", tid);
    if (w < 0 || (size_t)w >= n - used) break;
    used += (size_t)w;
  }
  pthread_mutex_unlock(&tasks_lock);
}
