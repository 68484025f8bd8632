/* C-side benchmarks, side by side in one run (release build; scripts/bench runs it):
 *   point   fl_fail disarmed (one load, one branch: a path the product never takes, since
 *           CEngine arms every point to count its hits) against libfiu's fiu_fail with nothing
 *           enabled; and fl_fail armed with a C callback that passes (the ABI's own share of an
 *           armed hit; faultline-bench point times the whole path into the Swift harness)
 *   naive [PLACEMENTS]
 *           the naive way to judge libext2fs under e2fsck, scenario by scenario: copy the whole
 *           image file, open it (unix_io_manager under a counting wrapper, libext2fs's allocator
 *           hooked), run the write-append plan's operations (write, append, fsync, read) with one
 *           fault armed at the nth hit of a point as the sweep places it, close, run e2fsck -fn.
 *           PLACEMENTS is a file of lines `point hit errno persistent` (errno 0: a placement
 *           fl_fail ignores, such as `short`; `-` for the fault-free scenario); without it, the
 *           fault-free scenario alone. Each round is whole passes over the list for at least a
 *           CPU second; it prints `naive-round <scenarios/s> <scenarios> <fired> <damaged>`, after
 *           `naive-hits point=N ... sequence=HEX`, the hits the fault-free scenario counts and an
 *           FNV-1a hash of their points' catalog indexes in order.
 * Medians of BENCH_ROUNDS rounds (default 7), timed in CPU seconds (this process's and its
 * children's), not by the wall clock. */
#define FIU_ENABLE 1
#include <errno.h>
#include <fcntl.h>
#include <fiu.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline.h"
#include "fx_internal.h"

extern char **environ;

/* CPU seconds used so far by this process and the children it has waited for (e2fsck): the
 * machine is shared, and time other processes take is not a measure's cost. */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9 + (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static fl_decision never(void *h, int p) {
  (void)h, (void)p;
  fl_decision d = {FL_FAIL, EIO, 0};
  return d;
}

/* An armed point's callback that counts the hit and passes: the C side of an armed hit alone. */
static long passes;
static fl_decision count_and_pass(void *h, int p) {
  (void)h, (void)p;
  passes++;
  fl_decision d = {FL_PASS, 0, 0};
  return d;
}

/* Keeps the loops from being optimised away. */
static volatile int sink;

static void bench_point(int rounds) {
  const long n = 200000000;
  fl_ctx *ctx = fl_ctx_new(8);
  ctx->hit = never;
  fl_ctx *armed = fl_ctx_new(8);
  armed->hit = count_and_pass;
  for (int i = 0; i < 8; i++) fl_ctx_arm(armed, i, 1);
  double fl[32], fiu[32], arm[32];
  fiu_init(0);
  /* Interleaved round by round: the three loops see the same machine. */
  for (int r = 0; r < rounds; r++) {
    int acc = 0;
    double t = now();
    for (long i = 0; i < n; i++) acc += fl_fail(ctx, (int)(i & 7));
    fl[r] = (now() - t) / (double)n * 1e9;
    sink = acc;
    acc = 0;
    t = now();
    for (long i = 0; i < n / 10; i++) acc += fiu_fail("ext2fs/io/write");
    fiu[r] = (now() - t) / (double)(n / 10) * 1e9;
    sink = acc;
    acc = 0;
    t = now();
    for (long i = 0; i < n / 10; i++) acc += fl_fail(armed, (int)(i & 7));
    arm[r] = (now() - t) / (double)(n / 10) * 1e9;
    sink = acc;
  }
  double rf[32];
  for (int r = 0; r < rounds; r++) rf[r] = fiu[r] / fl[r];
  double a = median(fl, rounds), b = median(fiu, rounds), c = median(arm, rounds), q = median(rf, rounds);
  printf("disarmed fl_fail (one load, one branch; the product arms every C point)  %8.3f ns  (%.3f-%.3f)\n", a,
         fl[0], fl[rounds - 1]);
  printf("libfiu fiu_fail, nothing enabled                                          %8.3f ns  (%.3f-%.3f)\n", b,
         fiu[0], fiu[rounds - 1]);
  printf("  disarmed fl_fail is %.0fx cheaper than fiu_fail (median of per-round ratios, %.0f-%.0f)\n", q, rf[0],
         rf[rounds - 1]);
  printf("armed fl_fail, C callback that counts and passes (no Swift)              %8.3f ns  (%.3f-%.3f)\n", c,
         arm[0], arm[rounds - 1]);
  fl_ctx_free(ctx);
  fl_ctx_free(armed);
}

static int copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0) return -1;
  char buf[65536];
  for (;;) {
    ssize_t k = read(in, buf, sizeof buf);
    if (k <= 0) break;
    if (write(out, buf, (size_t)k) != k) return -1;
  }
  close(in);
  return close(out);
}

static int fsck(const char *image) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = {"e2fsck", "-fn", (char *)image, NULL};
  pid_t pid;
  if (posix_spawnp(&pid, "e2fsck", &fa, NULL, argv, environ) != 0) return -1;
  posix_spawn_file_actions_destroy(&fa);
  int status;
  waitpid(pid, &status, 0);
  return WEXITSTATUS(status);
}

/* --- the naive loop's fault injection: a counter per point, one fault armed ------------------ */

/* One scenario's fault: the nth hit of a point fails with err (0: a placement fl_fail ignores,
 * such as `short`, which the sweep still runs), and every later hit too when persistent. */
typedef struct naive_fault {
  int point; /* FX_* index; -1: no fault (the fault-free scenario) */
  long hit;
  int err;
  int persistent;
} naive_fault;

static const char *const point_names[FX_N_POINTS] = {"alloc.data", "alloc.metadata", "alloc.range", "io.read",
                                                      "io.write",   "io.flush",       "io.zeroout"};
static int counting;               /* hits are counted during the plan's operations only, as the harness does */
static long counts[FX_N_POINTS];   /* hits per point this scenario */
static const naive_fault *current; /* the armed fault */
static int fired;                  /* this scenario's fault failed a hit */
static unsigned long long sequence; /* FNV-1a over the points of this scenario's hits, in order */

/* A pass through `point`: 0, or the errno the armed fault fails it with. */
static int naive_hit(int point) {
  if (!counting) return 0;
  long n = ++counts[point];
  sequence = (sequence ^ (unsigned long long)point) * 0x100000001B3ULL;
  const naive_fault *f = current;
  if (!f || f->point != point || !f->err || n < f->hit || (n > f->hit && !f->persistent)) return 0;
  fired = 1;
  return f->err;
}

/* An io_manager over unix_io_manager that passes each call through naive_hit first: the same
 * calls the engine's fx_io_manager sees, so the same hits are counted. */
static struct struct_io_manager naive_manager_struct;

static io_channel inner_of(io_channel io) { return (io_channel)io->private_data; }

static errcode_t naive_open(const char *name, int flags, io_channel *channel) {
  io_channel inner = NULL, io = NULL;
  errcode_t rc = unix_io_manager->open(name, flags, &inner);
  if (rc) return rc;
  if ((rc = ext2fs_get_memzero(sizeof(struct struct_io_channel), &io)) ||
      (rc = ext2fs_get_mem(strlen(name) + 1, &io->name))) {
    if (io) ext2fs_free_mem(&io);
    io_channel_close(inner);
    return rc;
  }
  strcpy(io->name, name);
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = &naive_manager_struct;
  io->block_size = inner->block_size;
  io->refcount = 1;
  io->flags = CHANNEL_FLAGS_DISCARD_ZEROES; /* as the engine's manager says of its image */
  io->private_data = inner;
  *channel = io;
  return 0;
}

static errcode_t naive_close(io_channel io) {
  if (--io->refcount > 0) return 0;
  errcode_t rc = io_channel_close(inner_of(io));
  ext2fs_free_mem(&io->name);
  ext2fs_free_mem(&io);
  return rc;
}

static errcode_t naive_set_blksize(io_channel io, int blksize) {
  errcode_t rc = io_channel_set_blksize(inner_of(io), blksize);
  if (!rc) io->block_size = blksize;
  return rc;
}

static errcode_t naive_read_blk64(io_channel io, unsigned long long block, int count, void *data) {
  int err = naive_hit(FX_IO_READ);
  return err ? (errcode_t)err : io_channel_read_blk64(inner_of(io), block, count, data);
}
static errcode_t naive_read_blk(io_channel io, unsigned long block, int count, void *data) {
  return naive_read_blk64(io, block, count, data);
}
static errcode_t naive_write_blk64(io_channel io, unsigned long long block, int count, const void *data) {
  int err = naive_hit(FX_IO_WRITE);
  return err ? (errcode_t)err : io_channel_write_blk64(inner_of(io), block, count, data);
}
static errcode_t naive_write_blk(io_channel io, unsigned long block, int count, const void *data) {
  return naive_write_blk64(io, block, count, data);
}
static errcode_t naive_write_byte(io_channel io, unsigned long offset, int size, const void *data) {
  int err = naive_hit(FX_IO_WRITE);
  return err ? (errcode_t)err : io_channel_write_byte(inner_of(io), offset, size, data);
}
static errcode_t naive_flush(io_channel io) {
  int err = naive_hit(FX_IO_FLUSH);
  return err ? (errcode_t)err : io_channel_flush(inner_of(io));
}
static errcode_t naive_set_option(io_channel io, const char *option, const char *arg) {
  (void)io, (void)option, (void)arg;
  return EXT2_ET_INVALID_ARGUMENT;
}
static errcode_t naive_discard(io_channel io, unsigned long long block, unsigned long long count) {
  return io_channel_discard(inner_of(io), block, count);
}
static errcode_t naive_zeroout(io_channel io, unsigned long long block, unsigned long long count) {
  int err = naive_hit(FX_IO_ZEROOUT);
  return err ? (errcode_t)err : io_channel_zeroout(inner_of(io), block, count);
}

static struct struct_io_manager naive_manager_struct = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "naive counting I/O manager",
    .open = naive_open,
    .close = naive_close,
    .set_blksize = naive_set_blksize,
    .read_blk = naive_read_blk,
    .write_blk = naive_write_blk,
    .flush = naive_flush,
    .write_byte = naive_write_byte,
    .set_option = naive_set_option,
    .get_stats = NULL, /* as the engine's manager: the lifetime-writes counter stays put */
    .read_blk64 = naive_read_blk64,
    .write_blk64 = naive_write_blk64,
    .discard = naive_discard,
    .zeroout = naive_zeroout,
};

/* libext2fs's allocator hooks, as the engine installs them (fx_io.c), counting instead. */
static errcode_t naive_alloc_block2(ext2_filsys fs, blk64_t goal, blk64_t *ret, struct blk_alloc_ctx *actx) {
  int err = naive_hit(actx && actx->flags == BLOCK_ALLOC_DATA ? FX_ALLOC_DATA : FX_ALLOC_METADATA);
  if (err) return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
  return ext2fs_new_block3(fs, goal, fs->block_map, ret, actx);
}

static errcode_t naive_new_range(ext2_filsys fs, int flags, blk64_t goal, blk64_t len, blk64_t *pblk,
                                 blk64_t *plen) {
  int err = naive_hit(FX_ALLOC_RANGE);
  if (err) return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
  return ext2fs_new_range(fs, flags, goal, len, fs->block_map, pblk, plen);
}

/* The engine's write: a file handle, 4 KiB at a time (fx_ops.c write_file). */
static errcode_t write_at(ext2_filsys fs, ext2_ino_t ino, unsigned long long off, unsigned long long len,
                          int pattern) {
  ext2_file_t f;
  errcode_t rc = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &f);
  if (rc) return rc;
  char buf[4096];
  memset(buf, pattern, sizeof buf);
  rc = ext2fs_file_llseek(f, off, EXT2_SEEK_SET, NULL);
  unsigned long long done = 0;
  for (int guard = 0; !rc && done < len && guard < 1 << 20; guard++) {
    unsigned int w = 0, k = (unsigned int)(len - done < sizeof buf ? len - done : sizeof buf);
    rc = ext2fs_file_write(f, buf, k, &w);
    done += w;
    if (!rc && w == 0) rc = EXT2_ET_SHORT_WRITE;
  }
  errcode_t c = ext2fs_file_close(f);
  return rc ? rc : c;
}

/* The engine's read: the whole file through a file handle (fx_ops.c read_file). */
static errcode_t read_all(ext2_filsys fs, ext2_ino_t ino) {
  ext2_file_t f;
  errcode_t rc = ext2fs_file_open(fs, ino, 0, &f);
  if (rc) return rc;
  __u64 size = 0;
  ext2fs_file_get_lsize(f, &size);
  char *data = calloc(size ? size : 1, 1);
  unsigned int got = 0;
  size_t done = 0;
  for (int guard = 0; data && !rc && done < size && guard < 1 << 20; guard++) {
    unsigned int n = size - done > (1u << 20) ? (1u << 20) : (unsigned int)(size - done);
    rc = ext2fs_file_read(f, data + done, n, &got);
    if (!rc && got == 0) break;
    done += got;
  }
  sink = data ? data[0] : 0;
  free(data);
  errcode_t c = ext2fs_file_close(f);
  return rc ? rc : c;
}

/* One scenario of the write-append plan: copy, open, the plan's four operations with `f`
 * armed (each runs whatever the ones before returned, as the runner does), close, e2fsck.
 * Returns e2fsck's exit status. */
static int naive_scenario(const char *template, const char *image, const naive_fault *f) {
  if (copy_file(template, image)) exit(1);
  memset(counts, 0, sizeof counts);
  sequence = 0xCBF29CE484222325ULL;
  current = f;
  fired = 0;
  counting = 0;
  ext2_filsys fs;
  if (ext2fs_open2(image, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, &naive_manager_struct,
                   &fs))
    exit(1);
  fs->now = 1700000000;
  if (ext2fs_read_bitmaps(fs)) exit(1);
  fs->get_alloc_block2 = naive_alloc_block2;
  errcode_t (*old)(ext2_filsys, int, blk64_t, blk64_t, blk64_t *, blk64_t *) = NULL;
  ext2fs_set_new_range_callback(fs, naive_new_range, &old);
  /* The engine snapshots after setup, before the plan runs: reading /a's directory and inode
   * leaves them in libext2fs's inode cache, so the plan's operations read two blocks fewer.
   * The same reads here, uncounted, so that the nth hit of a point is the same place. */
  ext2_ino_t ino;
  struct ext2_inode warm;
  if (!ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &ino)) ext2fs_read_inode(fs, ino, &warm);
  counting = 1;
  if (!ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &ino)) write_at(fs, ino, 0, 12 * 1024, 0x11);
  if (!ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &ino)) {
    struct ext2_inode inode;
    if (!ext2fs_read_inode(fs, ino, &inode)) write_at(fs, ino, EXT2_I_SIZE(&inode), 3 * 1024, 0x22);
  }
  ext2fs_flush(fs);
  if (!ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &ino)) read_all(fs, ino);
  counting = 0;
  ext2fs_close2(fs, 0);
  return fsck(image);
}

/* Reads a placements file (see the top of this file); returns how many, at most `max`. */
static int read_placements(const char *path, naive_fault *out, int max) {
  FILE *in = fopen(path, "r");
  if (!in) {
    perror(path);
    exit(1);
  }
  int n = 0;
  char point[64];
  long hit;
  int err, persistent;
  for (int guard = 0; n < max && guard < 1 << 20; guard++) {
    int k = fscanf(in, "%63s", point);
    if (k != 1) break;
    if (strcmp(point, "-") == 0) {
      out[n++] = (naive_fault){-1, 0, 0, 0};
      continue;
    }
    if (fscanf(in, "%ld %d %d", &hit, &err, &persistent) != 3) break;
    int p = -1;
    for (int i = 0; i < FX_N_POINTS; i++)
      if (strcmp(point_names[i], point) == 0) p = i;
    if (p < 0) {
      fprintf(stderr, "naive: unknown point %s\n", point);
      exit(1);
    }
    out[n++] = (naive_fault){p, hit, err, persistent};
  }
  fclose(in);
  return n;
}

static void bench_naive(int rounds, const char *placements) {
  /* The same setup as Plans/ext2fs/write-append.yaml, built once into a template file. */
  const char *setup = "{\"size\":2097152,\"block-size\":1024,\"features\":[\"extents\",\"64bit\"],"
                      "\"fragment\":{\"run\":1},\"files\":[{\"path\":\"/a\"}]}";
  fx_config cfg;
  char err[256];
  const char *template = "/dev/shm/faultline-cbench-template.img", *image = "/dev/shm/faultline-cbench.img";
  if (fx_parse_config(setup, &cfg, err, sizeof err) || fx_materialize(setup, &cfg, template, err, sizeof err)) {
    fprintf(stderr, "naive: %s\n", err);
    exit(1);
  }
  static naive_fault list[1 << 16];
  int n = 1;
  list[0] = (naive_fault){-1, 0, 0, 0};
  if (placements) n = read_placements(placements, list, 1 << 16);
  if (n == 0) {
    fprintf(stderr, "naive: no placements in %s\n", placements);
    exit(1);
  }
  /* The hits the fault-free scenario counts, per point: the sweep's fault space must be these. */
  naive_fault none = {-1, 0, 0, 0};
  if (naive_scenario(template, image, &none) != 0) {
    fprintf(stderr, "naive: e2fsck found the fault-free image damaged\n");
    exit(1);
  }
  printf("naive-hits");
  for (int i = 0; i < FX_N_POINTS; i++) printf(" %s=%ld", point_names[i], counts[i]);
  printf(" sequence=%016llx\n", sequence);
  double rate[32];
  for (int r = 0; r < rounds; r++) {
    long done = 0, fired_in = 0, damaged = 0;
    double t = now();
    /* Whole passes over the list (the scenario mix is the sweep's), at least a second. */
    for (int pass = 0; pass < 1 << 20 && (pass == 0 || now() - t < 1.0); pass++) {
      fired_in = damaged = 0;
      for (int i = 0; i < n; i++) {
        int status = naive_scenario(template, image, &list[i]);
        if (status < 0) exit(1);
        if (status != 0) damaged++;
        if (list[i].point < 0 && status != 0) {
          fprintf(stderr, "naive: e2fsck found the fault-free image damaged\n");
          exit(1);
        }
        fired_in += fired;
        done++;
      }
    }
    rate[r] = (double)done / (now() - t);
    printf("naive-round %.1f %ld %ld %ld\n", rate[r], done, fired_in, damaged);
  }
  unlink(template);
  unlink(image);
  printf("naive ext2fs scenarios (copy image, ops, close, e2fsck), %d per pass  %8.0f scenarios/s\n", n,
         median(rate, rounds));
}

int main(int argc, char **argv) {
  int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 7;
  if (rounds < 1 || rounds > 31) rounds = 7;
  setenv("E2FSPROGS_FAKE_TIME", "1700000000", 0);
  const char *what = argc > 1 ? argv[1] : "all";
  if (strcmp(what, "point") == 0 || strcmp(what, "all") == 0) bench_point(rounds);
  if (strcmp(what, "naive") == 0 || strcmp(what, "all") == 0) bench_naive(rounds, argc > 2 ? argv[2] : NULL);
  return 0;
}
