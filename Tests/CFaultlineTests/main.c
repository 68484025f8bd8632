/* cmocka tests of Faultline's C side: the ABI's fault-point fast path, and the ext2fs engine's
 * io_manager wrapper and allocator hooks handing injected errors to libext2fs, and its snapshot
 * JSON. Run by scripts/test with CMOCKA_MESSAGE_OUTPUT=xml (JUnit XML in .build/test-results). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faultline.h"
#include "fl_ext2fs.h"
#include "fx_internal.h"
#include "fx_json.h"

/* A harness that counts hits and fails the points the test names. */
typedef struct fake {
  int hits[32];
  int fail_point;
  int fail_err;
  int fail_after; /* pass this many armed hits of fail_point first */
} fake;

static fl_decision fake_hit(void *h, int point) {
  fake *f = h;
  fl_decision d = {FL_PASS, 0, 0};
  if (point >= 0 && point < 32) f->hits[point]++;
  if (point == f->fail_point && f->hits[point] > f->fail_after) {
    d.action = FL_FAIL;
    d.err = f->fail_err;
  }
  return d;
}
static const char *fake_task(void *h) { return (void)h, "t"; }
static int fake_op(void *h) { return (void)h, 1; }
static const char *fake_op_name(void *h) { return (void)h, "op"; }
static void fake_trace(void *h, const char *line) { (void)h, (void)line; }

static fl_ctx *ctx_for(fake *f, int n_points) {
  fl_ctx *ctx = fl_ctx_new(n_points);
  ctx->harness = f;
  ctx->hit = fake_hit;
  ctx->task = fake_task;
  ctx->op_index = fake_op;
  ctx->op_name = fake_op_name;
  ctx->trace = fake_trace;
  return ctx;
}

static void disarmed_points_never_reach_the_harness(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx = ctx_for(&f, 4);
  for (int i = 0; i < 1000; i++) {
    fl_decision d = fl_point(ctx, i % 4);
    assert_int_equal(d.action, FL_PASS);
    assert_int_equal(fl_fail(ctx, i % 4), 0);
  }
  for (int p = 0; p < 4; p++) assert_int_equal(f.hits[p], 0);
  fl_ctx_free(ctx);
}

static void an_armed_point_asks_the_harness_and_returns_its_decision(void **state) {
  (void)state;
  fake f = {.fail_point = 2, .fail_err = ENOSPC, .fail_after = 1};
  fl_ctx *ctx = ctx_for(&f, 4);
  fl_ctx_arm(ctx, 2, 1);
  assert_int_equal(fl_fail(ctx, 2), 0);        /* first hit passes */
  assert_int_equal(fl_fail(ctx, 2), ENOSPC);   /* second fails */
  assert_int_equal(fl_point(ctx, 1).action, FL_PASS);
  assert_int_equal(f.hits[2], 2);
  assert_int_equal(f.hits[1], 0); /* point 1 is disarmed */
  fl_ctx_arm(ctx, 2, 0);
  assert_int_equal(fl_fail(ctx, 2), 0);
  assert_int_equal(f.hits[2], 2);
  fl_ctx_arm(ctx, 99, 1); /* out of range: ignored */
  fl_ctx_free(ctx);
}

/* An ext2fs engine instance over a small image, opened with nothing armed, then every point armed. */
static void *ext2fs_with(fake *f, fl_ctx **ctx) {
  const fl_engine *e = fl_ext2fs_engine();
  assert_int_equal(e->abi_version, FL_ABI_VERSION);
  *ctx = ctx_for(f, e->n_points);
  char err[256] = "";
  void *inst = e->create(*ctx, "{\"size\":2097152,\"block-size\":1024,\"files\":[{\"path\":\"/a\"}]}", NULL, 0, err,
                         sizeof err);
  assert_non_null(inst);
  assert_int_equal(e->setup(inst), 0);
  for (int i = 0; i < e->n_points; i++) fl_ctx_arm(*ctx, i, 1);
  return inst;
}

static int write_op(void *inst, const char *path, int off, int len) {
  char op[256];
  snprintf(op, sizeof op, "{\"kind\":\"write\",\"path\":\"%s\",\"offset\":%d,\"length\":%d,\"pattern\":17}", path, off,
           len);
  fl_buf out = {0};
  int rc = fl_ext2fs_engine()->perform(inst, op, &out);
  free(out.data);
  return rc;
}

static void io_write_fault_reaches_libext2fs_as_eio(void **state) {
  (void)state;
  fake f = {.fail_point = FX_IO_WRITE, .fail_err = EIO};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  assert_int_equal(write_op(inst, "/a", 0, 4096), EIO);
  assert_true(f.hits[FX_IO_WRITE] >= 1);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void io_read_fault_reaches_libext2fs_as_eio(void **state) {
  (void)state;
  fake f = {.fail_point = FX_IO_READ, .fail_err = EIO};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  /* The file's data is on disk, not cached: reading it back must read a block. */
  f.fail_point = -1;
  assert_int_equal(write_op(inst, "/a", 0, 4096), 0);
  assert_int_equal(fl_ext2fs_engine()->perform(inst, "{\"kind\":\"fsync\",\"path\":\"/a\"}", &(fl_buf){0}), 0);
  f.fail_point = FX_IO_READ;
  fl_buf out = {0};
  int rc = fl_ext2fs_engine()->perform(inst, "{\"kind\":\"read\",\"path\":\"/a\"}", &out);
  free(out.data);
  assert_int_equal(rc, EIO);
  assert_true(f.hits[FX_IO_READ] >= 1);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void data_allocation_fault_is_enospc_and_only_data_allocations_hit_it(void **state) {
  (void)state;
  fake f = {.fail_point = FX_ALLOC_DATA, .fail_err = ENOSPC, .fail_after = 2};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  assert_int_equal(write_op(inst, "/a", 0, 8192), ENOSPC);
  /* The third failed; closing the file flushes its dirty buffer and allocates once more (mechanism
   * E of Plans/ext2fs/README.md: that block then lies past EOF). */
  assert_int_equal(f.hits[FX_ALLOC_DATA], 4);
  assert_int_equal(f.hits[FX_ALLOC_METADATA], 0); /* 3 blocks fit in the inode's extents */
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void metadata_allocation_fault_hits_the_xattr_block(void **state) {
  (void)state;
  fake f = {.fail_point = FX_ALLOC_METADATA, .fail_err = ENOSPC};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  char op[1000];
  char value[601]; /* too big for the inode, fits a 1 KiB xattr block */
  memset(value, 'v', 600);
  value[600] = 0;
  snprintf(op, sizeof op, "{\"kind\":\"setxattr\",\"path\":\"/a\",\"name\":\"user.big\",\"value\":\"%s\"}", value);
  fl_buf out = {0};
  assert_int_equal(fl_ext2fs_engine()->perform(inst, op, &out), ENOSPC);
  assert_int_equal(f.hits[FX_ALLOC_METADATA], 1);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void snapshot_is_well_formed_json_in_the_common_model(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  assert_int_equal(write_op(inst, "/a", 0, 6144), 0);
  char *json = fl_ext2fs_engine()->snapshot(inst);
  assert_non_null(json);
  fx_json *root = fx_json_parse(json);
  assert_non_null(root);
  const char *keys[] = {"pageSize", "files", "locks", "extents", "free", "space", "assertions"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_non_null(fx_json_get(root, keys[i]));
  const fx_json *ext = fx_json_get(root, "extents");
  int leaves = 0;
  for (const fx_json *x = ext->child; x; x = x->next) {
    assert_string_equal(fx_json_string(x, "source"), "tree");
    assert_non_null(fx_json_get(x, "range"));
    assert_non_null(fx_json_get(x, "disk"));
    leaves += strcmp(fx_json_string(x, "file"), "/a") == 0;
  }
  assert_true(leaves >= 1);
  assert_null(fx_json_get(root, "assertions")->child); /* consistent: no assertion broken */
  fx_json_free(root);
  free(json);
  /* After the close, e2fsck finds the image clean: verify has nothing to say. */
  assert_null(fl_ext2fs_engine()->verify(inst));
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(disarmed_points_never_reach_the_harness),
      cmocka_unit_test(an_armed_point_asks_the_harness_and_returns_its_decision),
      cmocka_unit_test(io_write_fault_reaches_libext2fs_as_eio),
      cmocka_unit_test(io_read_fault_reaches_libext2fs_as_eio),
      cmocka_unit_test(data_allocation_fault_is_enospc_and_only_data_allocations_hit_it),
      cmocka_unit_test(metadata_allocation_fault_hits_the_xattr_block),
      cmocka_unit_test(snapshot_is_well_formed_json_in_the_common_model),
  };
  return cmocka_run_group_tests_name("faultline C side", tests, NULL, NULL);
}
