/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent's queries, one at a time on the query thread: run a program with a timeout (mkfs,
 * fsck), mount and unmount, snapshots (statfs, and per file its size and FIEMAP extents, without
 * FIEMAP_FLAG_SYNC so delalloc shows as delalloc), the kernel log since the last call (from
 * /dev/kmsg), writes and reads of /proc, /sys and debugfs files, BLKFLSBUF, sync, closing the
 * tasks' files (the kernel checks are in kernelcheck.c). Each reply is RES id=N rc=ERRNO
 * [out=BASE64].
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define MAX_ARGS 32
#define MAX_OUTPUT (256 * 1024)
#define FIEMAP_BATCH 256
/* A file with more extents than this is reported as cut (the host marks the snapshot incomplete). */
#define FIEMAP_MAX_EXTENTS 65536

/* cachestat(2) (Linux 6.5): page-cache counts of a file range, without touching its pages. Its
 * number is the same on every architecture (the unified syscall table). */
#define FL_NR_CACHESTAT 451
struct fl_cachestat_range {
  unsigned long long off, len;
};
struct fl_cachestat {
  unsigned long long nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
/* Pages a snapshot reads one by one at most (64 MiB of a file); a file with more dirty or
 * writeback pages past that is reported as cut. */
#define PAGES_MAX 16384

static int cachestat(int fd, unsigned long long off, unsigned long long len, struct fl_cachestat *cs) {
  struct fl_cachestat_range r = {off, len};
  memset(cs, 0, sizeof *cs);
  return syscall(FL_NR_CACHESTAT, fd, &r, cs, 0) == 0 ? 0 : errno;
}

/* The file's page-cache state: `"cache":[cached,dirty,writeback]` for the whole file and, when
 * any page is dirty or under writeback, `"pages":[[index,dirty,writeback],…]` for each such page
 * (cachestat of that one page). Nothing is read, mapped or locked: a page left locked does not
 * block it. */
static void snap_pages(fl_strbuf *j, int fd, unsigned long long size) {
  struct fl_cachestat cs;
  int e = cachestat(fd, 0, 0, &cs);
  if (e) {
    sb_printf(j, ",\"cacheErrno\":%d", e);
    return;
  }
  /* Writeback the disk finished may still be completing (end_io in a worker): up to 2 s for it
   * before a page is called under writeback. */
  for (int i = 0; i < 20 && cs.nr_writeback > 0 && e == 0; i++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    e = cachestat(fd, 0, 0, &cs);
  }
  if (e) {
    sb_printf(j, ",\"cacheErrno\":%d", e);
    return;
  }
  sb_printf(j, ",\"cache\":[%llu,%llu,%llu]", cs.nr_cache, cs.nr_dirty, cs.nr_writeback);
  if (cs.nr_dirty == 0 && cs.nr_writeback == 0) return;
  unsigned long long pages = (size + 4095) / 4096;
  sb_put(j, ",\"pages\":[", 10);
  int first = 1;
  unsigned long long seen = 0;
  for (unsigned long long i = 0; i < pages && i < PAGES_MAX; i++) {
    struct fl_cachestat p;
    if (cachestat(fd, i * 4096, 4096, &p) != 0) break;
    if (p.nr_dirty == 0 && p.nr_writeback == 0) continue;
    sb_printf(j, "%s[%llu,%llu,%llu]", first ? "" : ",", i, p.nr_dirty ? 1ULL : 0ULL, p.nr_writeback ? 1ULL : 0ULL);
    first = 0;
    seen += p.nr_dirty + p.nr_writeback;
  }
  sb_put(j, "]", 1);
  /* Dirty pages past EOF (or past what was read) are counted but not placed. */
  if (seen < cs.nr_dirty + cs.nr_writeback) sb_put(j, ",\"pagesCut\":true", 15);
}

void fl_reply(const char *id, int rc) { fl_send("RES id=%s rc=%d", id, rc); }
static void reply(const char *id, int rc) { fl_reply(id, rc); }

void fl_reply_out(const char *id, int rc, const char *extra, const fl_strbuf *out) {
  char head[128];
  snprintf(head, sizeof head, "RES id=%s rc=%d%s%s", id, rc, extra && *extra ? " " : "", extra ? extra : "");
  fl_send_data(head, "out", (const uint8_t *)(out->p ? out->p : ""), out->len);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run arg0=… arg1=… timeout=S: stdout and stderr together, at most MAX_OUTPUT bytes kept. */
static void run(const char *id, fl_msg *m) {
  char *argv[MAX_ARGS + 1];
  int argc = 0;
  for (; argc < MAX_ARGS; argc++) {
    char key[16];
    snprintf(key, sizeof key, "arg%d", argc);
    const char *a = fl_get(m, key);
    if (!a) break;
    argv[argc] = (char *)a;
  }
  argv[argc] = NULL;
  if (argc == 0) return reply(id, EINVAL);
  long long timeout = (long long)fl_get_u64(m, "timeout", 60) * 1000;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return reply(id, errno);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return reply(id, e);
  }
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C", NULL};
    execve(argv[0], argv, env);
    _exit(127);
  }
  close(pipefd[1]);
  fl_strbuf out = {0};
  char buf[8192];
  long long deadline = now_ms() + timeout;
  int timed_out = 0;
  /* Bounded by the deadline: poll in slices until the pipe closes. */
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      timed_out = 1;
      kill(pid, SIGKILL);
      break;
    }
    struct pollfd p = {pipefd[0], POLLIN, 0};
    int r = poll(&p, 1, (int)(left < 1000 ? left : 1000));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.len + (size_t)n <= MAX_OUTPUT) sb_put(&out, buf, (size_t)n);
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  char extra[64];
  if (timed_out) {
    snprintf(extra, sizeof extra, "status=timeout");
  } else if (WIFEXITED(status)) {
    snprintf(extra, sizeof extra, "status=%d", WEXITSTATUS(status));
  } else {
    snprintf(extra, sizeof extra, "status=signal%d", WTERMSIG(status));
  }
  fl_reply_out(id, 0, extra, &out);
  free(out.p);
}

static void snap_file(fl_strbuf *j, const char *dir, const char *path) {
  char full[512];
  snprintf(full, sizeof full, "%s%s", dir, path);
  sb_put(j, "{\"path\":", 8);
  sb_json_string(j, path);
  struct stat st;
  if (lstat(full, &st) != 0) {
    sb_printf(j, ",\"errno\":%d}", errno);
    return;
  }
  sb_printf(j, ",\"size\":%lld,\"blocks\":%lld,\"mode\":%u", (long long)st.st_size, (long long)st.st_blocks,
            (unsigned)st.st_mode);
  if (!S_ISREG(st.st_mode)) {
    sb_put(j, "}", 1);
    return;
  }
  int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0) fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    sb_printf(j, ",\"fiemapErrno\":%d}", errno);
    return;
  }
  size_t size = sizeof(struct fiemap) + FIEMAP_BATCH * sizeof(struct fiemap_extent);
  struct fiemap *fm = calloc(1, size);
  if (!fm) abort();
  sb_put(j, ",\"extents\":[", 12);
  unsigned long long start = 0;
  int total = 0, first = 1, done = 0, err = 0;
  while (!done && total < FIEMAP_MAX_EXTENTS) {
    memset(fm, 0, size);
    fm->fm_start = start;
    fm->fm_length = ~0ULL - start;
    fm->fm_flags = 0; /* no FIEMAP_FLAG_SYNC: delalloc must stay delalloc */
    fm->fm_extent_count = FIEMAP_BATCH;
    if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
      err = errno;
      break;
    }
    if (fm->fm_mapped_extents == 0) break;
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
      struct fiemap_extent *e = &fm->fm_extents[i];
      sb_printf(j, "%s[%llu,%llu,%llu,%u]", first ? "" : ",", (unsigned long long)e->fe_logical,
                (unsigned long long)e->fe_physical, (unsigned long long)e->fe_length, e->fe_flags);
      first = 0;
      total++;
      start = e->fe_logical + e->fe_length;
      if (e->fe_flags & FIEMAP_EXTENT_LAST) done = 1;
    }
  }
  sb_put(j, "]", 1);
  if (err) sb_printf(j, ",\"fiemapErrno\":%d", err);
  if (!done && !err && total >= FIEMAP_MAX_EXTENTS) sb_put(j, ",\"extentsCut\":true", 18);
  snap_pages(j, fd, (unsigned long long)st.st_size);
  free(fm);
  close(fd);
  sb_put(j, "}", 1);
}

/* snap dir=/mnt paths=/a,/b: {"statfs": {...}, "files": [...]} */
static void snap(const char *id, fl_msg *m) {
  const char *dir = fl_get(m, "dir") ? fl_get(m, "dir") : FL_MNT;
  const char *paths = fl_get(m, "paths") ? fl_get(m, "paths") : "";
  fl_strbuf j = {0};
  struct statfs s;
  if (statfs(dir, &s) != 0) return reply(id, errno);
  sb_printf(&j,
            "{\"statfs\":{\"bsize\":%lld,\"blocks\":%llu,\"bfree\":%llu,\"bavail\":%llu,\"files\":%llu,\"ffree\":%llu},"
            "\"files\":[",
            (long long)s.f_bsize, (unsigned long long)s.f_blocks, (unsigned long long)s.f_bfree,
            (unsigned long long)s.f_bavail, (unsigned long long)s.f_files, (unsigned long long)s.f_ffree);
  char *copy = strdup(paths);
  char *save = NULL;
  int first = 1;
  for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    if (!first) sb_put(&j, ",", 1);
    first = 0;
    snap_file(&j, dir, p);
  }
  free(copy);
  sb_put(&j, "]}", 2);
  fl_reply_out(id, 0, NULL, &j);
  free(j.p);
}

/* kmsg: every record since the last call, one per line as `SEQ LEVEL TEXT` (continuation lines
 * indented), without the kernel's timestamps. */
static int kmsg_fd = -1;
static void kmsg(const char *id) {
  if (kmsg_fd < 0) kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (kmsg_fd < 0) return reply(id, errno);
  fl_strbuf out = {0};
  char rec[8192];
  /* At most 100,000 records a call; the rest come with the next. */
  for (int n = 0; n < 100000; n++) {
    ssize_t r = read(kmsg_fd, rec, sizeof rec - 1);
    if (r < 0 && errno == EPIPE) continue; /* overwritten records: go on with the oldest kept */
    if (r <= 0) break;
    rec[r] = 0;
    char *semi = strchr(rec, ';');
    if (!semi) continue;
    unsigned prio = 0;
    unsigned long long seq = 0;
    sscanf(rec, "%u,%llu", &prio, &seq);
    sb_printf(&out, "%llu %u ", seq, prio & 7);
    sb_put(&out, semi + 1, strlen(semi + 1));
    if (out.len && out.p[out.len - 1] != '\n') sb_put(&out, "\n", 1);
  }
  fl_reply_out(id, 0, NULL, &out);
  free(out.p);
}

static void write_value(const char *id, fl_msg *m) {
  const char *path = fl_get(m, "path"), *value = fl_get(m, "value");
  if (!path || !value) return reply(id, EINVAL);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return reply(id, errno);
  ssize_t n = write(fd, value, strlen(value));
  int rc = n < 0 ? errno : 0;
  close(fd);
  reply(id, rc);
}

void sb_read_all(fl_strbuf *out, int fd) {
  char buf[8192];
  for (int k = 0; k < 1024; k++) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sb_put(out, buf, (size_t)n);
  }
}

static void read_file(const char *id, fl_msg *m) {
  const char *path = fl_get(m, "path");
  if (!path) return reply(id, EINVAL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return reply(id, errno);
  fl_strbuf out = {0};
  sb_read_all(&out, fd);
  close(fd);
  fl_reply_out(id, 0, NULL, &out);
  free(out.p);
}

/* fragment path=/mnt/.filler run=BYTES fill=PERCENT: fills the filesystem with one file (1 MiB
 * writes until ENOSPC), syncs, then punches every other `run` bytes of it until at least
 * 100-fill percent of the blocks are free: free space in runs of `run`, the disk `fill`% full.
 * Without run, truncates the filler until fill% is reached (free space in one piece). */
static void fragment(const char *id, fl_msg *m) {
  const char *path = fl_get(m, "path");
  unsigned long long run = fl_get_u64(m, "run", 0), fill = fl_get_u64(m, "fill", 100);
  if (!path || fill > 100) return reply(id, EINVAL);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return reply(id, errno);
  static uint8_t chunk[1 << 20];
  memset(chunk, 0x46, sizeof chunk); /* 'F' */
  unsigned long long size = 0;
  /* Bounded by the disk: every pass writes or stops. */
  int stop = 0; /* why the filling stopped: ENOSPC is the aim, anything else a failed setup */
  struct statfs fs;
  /* btrfs frees a data extent only when no part of it is referenced: a filler written in large
   * extents frees nothing when runs of it are punched. It is preallocated run by run instead,
   * each run an extent of its own, so punching every other one leaves free space in runs. */
  int statted = fstatfs(fd, &fs) == 0;
  int btrfs = statted && fs.f_type == 0x9123683E;
  /* xfs (a 300 MB disk at least): writing the filler costs most of a machine's start; its space
   * is allocated (unwritten extents) instead, megabyte by megabyte, then block by block. */
  if (!run && statted && fs.f_type == 0x58465342) {
    for (unsigned long long step = 1 << 20; step >= 4096 && stop == 0; step = step == 4096 ? 0 : 4096) {
      for (;;) {
        if (fallocate(fd, 0, (off_t)size, (off_t)step) != 0) {
          if (errno == EINTR) continue;
          if (errno != ENOSPC) stop = errno;
          break;
        }
        size += step;
      }
    }
    if (stop == 0) stop = ENOSPC;
  }
  if (run && btrfs) {
    for (;;) {
      if (fallocate(fd, 0, (off_t)size, (off_t)run) != 0) {
        if (errno == EINTR) continue;
        stop = errno;
        break;
      }
      size += run;
    }
  }
  for (; stop == 0;) {
    ssize_t n = pwrite(fd, chunk, sizeof chunk, (off_t)size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      stop = n < 0 ? errno : ENOSPC;
      break;
    }
    size += (unsigned long long)n;
  }
  /* What ENOSPC left in the last partial megabyte. */
  for (; stop == ENOSPC;) {
    ssize_t n = pwrite(fd, chunk, 4096, (off_t)size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      stop = n < 0 ? errno : ENOSPC;
      break;
    }
    size += (unsigned long long)n;
  }
  if (stop != ENOSPC || fsync(fd) != 0) {
    int e = stop != ENOSPC ? stop : errno;
    close(fd);
    return reply(id, e);
  }
  struct statfs s;
  if (fstatfs(fd, &s) != 0) {
    int e = errno;
    close(fd);
    return reply(id, e);
  }
  unsigned long long want_free = s.f_blocks * (100 - fill) / 100;
  /* free=BYTES: that much, rather than a share of the disk. */
  unsigned long long free_bytes = fl_get_u64(m, "free", 0);
  if (free_bytes) want_free = (free_bytes + s.f_bsize - 1) / s.f_bsize;
  int rc = 0;
  if (run) {
    for (unsigned long long off = 0; off + run <= size; off += 2 * run) {
      if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)run) != 0) {
        rc = errno;
        break;
      }
      if ((off / run) % 64 == 0) {
        /* btrfs: what a punch frees is pinned until the transaction commits (syncfs), and its
         * f_bfree counts unallocated space metadata may take; f_bavail is the data space. */
        if ((btrfs ? syncfs(fd) : fsync(fd)) != 0 || fstatfs(fd, &s) != 0) {
          rc = errno;
          break;
        }
        if ((btrfs ? s.f_bavail : s.f_bfree) >= want_free) break;
      }
    }
  } else {
    unsigned long long drop = want_free * (unsigned long long)s.f_bsize;
    if (ftruncate(fd, (off_t)(size > drop ? size - drop : 0)) != 0) rc = errno;
  }
  if (fsync(fd) != 0 && rc == 0) rc = errno;
  close(fd);
  reply(id, rc);
}

/* Sets min_ratio 40 on every bdi whose name starts with `prefix` (best effort: a kernel
 * without the knob, or a sum of floors over 100, leaves it as it was). */
static void bdi_floor(const char *prefix) {
  DIR *d = opendir("/sys/class/bdi");
  if (!d) return;
  /* Bounded by the directory's entries. */
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    char path[300];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/min_ratio", e->d_name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (write(fd, "40", 2) < 0) { /* best effort */
    }
    close(fd);
  }
  closedir(d);
}

void fl_query(fl_msg *m) {
  const char *id = fl_get(m, "id") ? fl_get(m, "id") : "0";
  const char *cmd = fl_get(m, "cmd");
  if (!cmd) return reply(id, EINVAL);
  if (strcmp(cmd, "run") == 0) return run(id, m);
  if (strcmp(cmd, "snap") == 0) return snap(id, m);
  if (strcmp(cmd, "kmsg") == 0) return kmsg(id);
  if (strcmp(cmd, "write") == 0) return write_value(id, m);
  if (strcmp(cmd, "read") == 0) return read_file(id, m);
  if (strcmp(cmd, "mount") == 0) {
    const char *src = fl_get(m, "src"), *dir = fl_get(m, "dir"), *type = fl_get(m, "type");
    const char *opts = fl_get(m, "opts");
    if (!src || !dir || !type) return reply(id, EINVAL);
    int rc = mount(src, dir, type, 0, opts && *opts ? opts : NULL) ? errno : 0;
    /* btrfs writes back through a bdi of its own (btrfs-N), not the disk's: give it the same
     * floor on its share of the dirty limit the host gave the disk's, or background writeback
     * starts during a plan's first write on a fresh mount, at a moment the load decides. */
    if (rc == 0) bdi_floor("btrfs-");
    if (rc == 0) {
      /* What the mount dirtied (a btrfs transaction its cleaner would commit later, xfs log
       * work) is written now, not during the plan's first operation at a time the load decides. */
      int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        if (syncfs(dfd) != 0) rc = errno;
        close(dfd);
      }
    }
    fl_settle(); /* and what that set going is done before the plan */
    return reply(id, rc);
  }
  if (strcmp(cmd, "umount") == 0) {
    const char *dir = fl_get(m, "dir");
    if (!dir) return reply(id, EINVAL);
    return reply(id, umount2(dir, 0) ? errno : 0);
  }
  if (strcmp(cmd, "flushbufs") == 0) {
    const char *dev = fl_get(m, "dev");
    int fd = dev ? open(dev, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) return reply(id, dev ? errno : EINVAL);
    int rc = ioctl(fd, BLKFLSBUF, 0) ? errno : 0;
    close(fd);
    return reply(id, rc);
  }
  if (strcmp(cmd, "sync") == 0) {
    sync();
    return reply(id, 0);
  }
  if (strcmp(cmd, "reset") == 0) return reply(id, fl_ops_reset());
  if (strcmp(cmd, "fragment") == 0) return fragment(id, m);
  if (strcmp(cmd, "submit") == 0) return fl_submit_query(id, m);
  if (strcmp(cmd, "module") == 0) return fl_check_module(id, m);
  if (strcmp(cmd, "heldlocks") == 0) return fl_check_held_locks(id);
  if (strcmp(cmd, "pageflags") == 0) return fl_check_pageflags(id);
  if (strcmp(cmd, "kmemleak") == 0) return fl_check_kmemleak(id, m);
  reply(id, ENOSYS);
}
