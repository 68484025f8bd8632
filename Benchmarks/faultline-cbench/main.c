/* C-side benchmarks, side by side in one run (release build; scripts/bench runs it):
 *   point   fl_fail disarmed (one load, one branch: a path the product never takes, since
 *           CEngine arms every point to count its hits) against libfiu's fiu_fail with nothing
 *           enabled; and fl_fail armed with a C callback that passes (the ABI's own share of an
 *           armed hit; faultline-bench point times the whole path into the Swift harness)
 *   naive   the naive way to judge libext2fs under e2fsck: per scenario, copy the whole image
 *           file, open it, run the write-append plan's operations, close, run e2fsck -fn
 *           (scenarios/s; faultline-bench ext2fs measures the engine's sweep beside it)
 * Medians of BENCH_ROUNDS rounds (default 7). */
#define FIU_ENABLE 1
#include <errno.h>
#include <fcntl.h>
#include <fiu.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline.h"
#include "fx_internal.h"

extern char **environ;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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

static errcode_t write_at(ext2_filsys fs, ext2_ino_t ino, unsigned long long off, unsigned len, int pattern) {
  ext2_file_t f;
  errcode_t rc = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &f);
  if (rc) return rc;
  char buf[4096];
  memset(buf, pattern, sizeof buf);
  rc = ext2fs_file_llseek(f, off, EXT2_SEEK_SET, NULL);
  for (unsigned done = 0; !rc && done < len;) {
    unsigned w = 0, k = len - done < sizeof buf ? len - done : sizeof buf;
    rc = ext2fs_file_write(f, buf, k, &w);
    done += w;
  }
  errcode_t c = ext2fs_file_close(f);
  return rc ? rc : c;
}

static void bench_naive(int rounds) {
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
  double rate[32];
  for (int r = 0; r < rounds; r++) {
    int n = 0;
    double t = now();
    while (now() - t < 1.0) {
      if (copy_file(template, image)) exit(1);
      ext2_filsys fs;
      if (ext2fs_open2(image, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs)) exit(1);
      ext2fs_read_bitmaps(fs);
      ext2_ino_t ino;
      ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &ino);
      write_at(fs, ino, 0, 12 * 1024, 0x11);
      struct ext2_inode inode;
      ext2fs_read_inode(fs, ino, &inode);
      write_at(fs, ino, EXT2_I_SIZE(&inode), 3 * 1024, 0x22);
      ext2fs_flush(fs);
      ext2fs_close2(fs, 0);
      if (fsck(image) != 0) {
        fprintf(stderr, "naive: e2fsck found the fault-free image damaged\n");
        exit(1);
      }
      n++;
    }
    rate[r] = n / (now() - t);
  }
  unlink(template);
  unlink(image);
  printf("naive ext2fs scenario (copy image, op, close, e2fsck)  %8.0f scenarios/s\n", median(rate, rounds));
}

int main(int argc, char **argv) {
  int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 7;
  if (rounds < 1 || rounds > 31) rounds = 7;
  setenv("E2FSPROGS_FAKE_TIME", "1700000000", 0);
  const char *what = argc > 1 ? argv[1] : "all";
  if (strcmp(what, "point") == 0 || strcmp(what, "all") == 0) bench_point(rounds);
  if (strcmp(what, "naive") == 0 || strcmp(what, "all") == 0) bench_naive(rounds);
  return 0;
}
