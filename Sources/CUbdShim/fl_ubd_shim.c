/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFaultlineUbdShim.so: preloaded into a User-Mode Linux process (LD_PRELOAD) by faultline's
 * linux engine. UML's ubd driver reads and writes the guest's disk with pread, pwrite and
 * fdatasync on a host file; this shim sits on those calls for that one file (FAULTLINE_UBD_IMAGE)
 * and, as the control block (FAULTLINE_UBD_CONTROL, see fl_ubd_control.h) says:
 *   - counts each read, write and flush as a hit of io.read, io.write, io.flush, and fails the
 *     armed hits with their errno (the guest sees a disk error);
 *   - keeps an undo log (FAULTLINE_UBD_UNDO): the bytes each write or discard replaced, and a
 *     marker after each flush that succeeded, so the host can put the image back as it was at the
 *     last flush (a power cut) or at the golden point (before the next scenario);
 *   - drops writes when told (after a power cut, while the guest lets go of the filesystem).
 * Every other file and call passes through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fl_ubd_control.h"

#define MAX_IMAGE_FDS 8

static fl_ubd_control *ctl;
static const char *image;
static int undo_fd = -1;
static int image_fds[MAX_IMAGE_FDS];
static int n_image_fds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);

static void resolve(void) {
  if (real_pwrite) return;
  real_pread = dlsym(RTLD_NEXT, "pread");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_fallocate = dlsym(RTLD_NEXT, "fallocate");
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_close = dlsym(RTLD_NEXT, "close");
}

__attribute__((constructor)) static void fl_ubd_init(void) {
  resolve();
  image = getenv("FAULTLINE_UBD_IMAGE");
  const char *c = getenv("FAULTLINE_UBD_CONTROL");
  const char *u = getenv("FAULTLINE_UBD_UNDO");
  if (!image || !c || !u) return;
  int fd = real_open(c, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void *m = mmap(NULL, sizeof(fl_ubd_control), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  real_close(fd);
  if (m == MAP_FAILED) return;
  fl_ubd_control *candidate = m;
  if (candidate->magic != FL_UBD_MAGIC || candidate->version != FL_UBD_VERSION) {
    munmap(m, sizeof(fl_ubd_control));
    return;
  }
  undo_fd = real_open(u, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (undo_fd < 0) {
    munmap(m, sizeof(fl_ubd_control));
    return;
  }
  ctl = candidate;
}

static int is_image(int fd) {
  if (!ctl || fd < 0) return 0;
  for (int i = 0; i < n_image_fds; i++)
    if (image_fds[i] == fd) return 1;
  return 0;
}

static void track(const char *path, int fd) {
  if (!ctl || fd < 0 || !path || strcmp(path, image) != 0) return;
  pthread_mutex_lock(&lock);
  if (n_image_fds < MAX_IMAGE_FDS) image_fds[n_image_fds++] = fd;
  pthread_mutex_unlock(&lock);
  __atomic_store_n(&ctl->image_fd, fd, __ATOMIC_SEQ_CST);
}

static void untrack(int fd) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < n_image_fds; i++) {
    if (image_fds[i] == fd) {
      image_fds[i] = image_fds[--n_image_fds];
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

/* Counts a hit of `p`; returns the errno it must fail with, or 0. */
static int decide(int p) {
  fl_ubd_point_state *s = &ctl->points[p];
  uint64_t n = fl_ubd_add(&s->hits, 1);
  uint64_t from = fl_ubd_load(&s->fire_from), to = fl_ubd_load(&s->fire_to), every = fl_ubd_load(&s->every);
  if (from == 0 || n < from || n > to) return 0;
  if (every && n % every != 0) return 0;
  uint64_t k = fl_ubd_add(&s->fired, 1);
  if (k <= FL_UBD_FIRED_MAX) fl_ubd_store(&s->fired_at[k - 1], n);
  int64_t err = fl_ubd_load_err(&s->err);
  return err > 0 ? (int)err : EIO;
}

static int dropping(void) { return fl_ubd_load32(&ctl->drop_writes) != 0; }
static int recording(void) { return fl_ubd_load32(&ctl->recording) != 0; }

/* The undo log's copy buffer. UML runs the image's I/O on a thread with a one-page stack and no
 * TLS of its own: nothing here may use more than a few hundred bytes of stack or call malloc. The
 * callers hold `lock`, so one static buffer serves every call. */
static uint8_t undo_buf[32768];

/* Appends the bytes [off, off+len) hold now to the undo log (zeros past the end of the file), a
 * buffer's worth at a time. */
static void save_undo(int fd, off_t off, size_t len) {
  fl_ubd_undo_header h = {(uint64_t)off, (uint64_t)len};
  int ok = write(undo_fd, &h, sizeof h) == (ssize_t)sizeof h;
  /* Bounded: each pass consumes up to a buffer's worth of `len`. */
  for (size_t done = 0; ok && done < len;) {
    size_t want = len - done < sizeof undo_buf ? len - done : sizeof undo_buf;
    size_t got = 0;
    while (got < want) {
      ssize_t n = real_pread(fd, undo_buf + got, want - got, off + (off_t)(done + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    memset(undo_buf + got, 0, want - got);
    ok = write(undo_fd, undo_buf, want) == (ssize_t)want;
    done += want;
  }
  if (!ok) fl_ubd_add(&ctl->undo_errors, 1);
}

static void save_flush_marker(void) {
  fl_ubd_undo_header h = {FL_UBD_UNDO_FLUSH, 0};
  if (write(undo_fd, &h, sizeof h) != (ssize_t)sizeof h) fl_ubd_add(&ctl->undo_errors, 1);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off) {
  resolve();
  if (is_image(fd)) {
    int err = decide(FL_UBD_READ);
    if (err) {
      errno = err;
      return -1;
    }
  }
  return real_pread(fd, buf, len, off);
}
ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) {
  resolve();
  if (!is_image(fd)) return real_pwrite(fd, buf, len, off);
  if (dropping()) {
    fl_ubd_add(&ctl->writes_dropped, 1);
    return (ssize_t)len;
  }
  int err = decide(FL_UBD_WRITE);
  if (err) {
    errno = err;
    return -1;
  }
  pthread_mutex_lock(&lock);
  if (recording()) save_undo(fd, off, len);
  ssize_t n = real_pwrite(fd, buf, len, off);
  pthread_mutex_unlock(&lock);
  return n;
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

static int flush(int fd, int (*real)(int)) {
  if (dropping()) return 0;
  int err = decide(FL_UBD_FLUSH);
  if (err) {
    errno = err;
    return -1;
  }
  pthread_mutex_lock(&lock);
  int rc = real(fd);
  if (rc == 0 && recording()) save_flush_marker();
  pthread_mutex_unlock(&lock);
  return rc;
}

int fdatasync(int fd) {
  resolve();
  return is_image(fd) ? flush(fd, real_fdatasync) : real_fdatasync(fd);
}

int fsync(int fd) {
  resolve();
  return is_image(fd) ? flush(fd, real_fsync) : real_fsync(fd);
}

/* Discards and zeroing change the image's bytes: writes, for faults and for the undo log. */
int fallocate(int fd, int mode, off_t off, off_t len) {
  resolve();
  if (!is_image(fd)) return real_fallocate(fd, mode, off, len);
  if (dropping()) return 0;
  int err = decide(FL_UBD_WRITE);
  if (err) {
    errno = err;
    return -1;
  }
  pthread_mutex_lock(&lock);
  if (recording() && len > 0) save_undo(fd, off, (size_t)len);
  int rc = real_fallocate(fd, mode, off, len);
  pthread_mutex_unlock(&lock);
  return rc;
}
int fallocate64(int fd, int mode, off_t off, off_t len) __attribute__((alias("fallocate")));

static mode_t mode_of(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
  resolve();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = real_open(path, flags, mode);
  track(path, fd);
  return fd;
}

int open64(const char *path, int flags, ...) {
  resolve();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = real_open64 ? real_open64(path, flags, mode) : real_open(path, flags, mode);
  track(path, fd);
  return fd;
}

int openat(int dir, const char *path, int flags, ...) {
  resolve();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  int fd = real_openat(dir, path, flags, mode);
  track(path, fd);
  return fd;
}

int close(int fd) {
  resolve();
  if (is_image(fd)) untrack(fd);
  return real_close(fd);
}
