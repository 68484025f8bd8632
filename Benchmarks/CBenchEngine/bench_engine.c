/* Engine `bench-hits` (see include/fl_bench_engine.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_bench_engine.h"

typedef struct bench_engine {
  const fl_ctx *ctx;
  unsigned long long failed;
} bench_engine;

static const int eio[] = {EIO};
static const fl_point_def points[] = {
    {"bench.point", FL_KIND_IO, eio, 1, "passed `length` times by a write"},
};
static const char *const operations[] = {"write"};

static void *create(const fl_ctx *ctx, const char *setup, const char *const *bugs, int n_bugs, char *err, size_t len) {
  (void)setup, (void)bugs, (void)n_bugs, (void)err, (void)len;
  bench_engine *e = calloc(1, sizeof *e);
  if (e) e->ctx = ctx;
  return e;
}

static int setup(void *p) {
  (void)p;
  return 0;
}

/* The op's "length" as plans write it ({"kind":"write","length":N,...}); 0 when absent. */
static unsigned long long length_of(const char *op) {
  const char *k = strstr(op, "\"length\":");
  return k ? strtoull(k + strlen("\"length\":"), NULL, 10) : 0;
}

static int perform(void *p, const char *op, fl_buf *out) {
  (void)out;
  bench_engine *e = p;
  unsigned long long n = length_of(op);
  for (unsigned long long i = 0; i < n; i++) {
    if (fl_fail(e->ctx, 0)) e->failed++;
  }
  return 0;
}

static char *snapshot(void *p) {
  (void)p;
  return strdup("{}");
}

static int recover(void *p) {
  (void)p;
  return 0;
}

static void destroy(void *p) { free(p); }

static const fl_engine engine = {
    .abi_version = FL_ABI_VERSION,
    .name = "bench-hits",
    .about = "faultline-bench's hit loop: one point, passed `length` times per write",
    .points = points,
    .n_points = 1,
    .operations = operations,
    .n_operations = 1,
    .create = create,
    .setup = setup,
    .perform = perform,
    .snapshot = snapshot,
    .recover = recover,
    .destroy = destroy,
};

const fl_engine *fl_bench_engine(void) { return &engine; }
