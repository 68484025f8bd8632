/* cmocka tests of Faultline's C side: the ABI's fault-point fast path; the ext2fs engine's
 * io_manager and allocator hooks handing injected errors to libext2fs, its snapshot JSON, and the
 * in-memory copy-on-write disk under it (reads, writes, content key, what e2fsck is shown). Run by scripts/test with CMOCKA_MESSAGE_OUTPUT=xml (JUnit XML in .build/test-results). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "faultline.h"
#include "fl_ext2fs.h"
#include "fx_explain.h"
#include "fx_internal.h"
#include "fx_json.h"

/* A harness that counts hits and fails the points the test names. */
typedef struct fake {
  int hits[32];
  int fail_point;
  int fail_err;
  int fail_after; /* pass this many armed hits of fail_point first */
  int fail_times; /* then fail this many (0: every one after) */
  char trace[4096]; /* the trace lines, one per line */
} fake;

static fl_decision fake_hit(void *h, int point) {
  fake *f = h;
  fl_decision d = {FL_PASS, 0, 0};
  if (point >= 0 && point < 32) f->hits[point]++;
  if (point == f->fail_point && f->hits[point] > f->fail_after &&
      (!f->fail_times || f->hits[point] <= f->fail_after + f->fail_times)) {
    d.action = FL_FAIL;
    d.err = f->fail_err;
  }
  return d;
}
static const char *fake_task(void *h) { return (void)h, "t"; }
static int fake_op(void *h) { return (void)h, 1; }
static const char *fake_op_name(void *h) { return (void)h, "op"; }
static void fake_trace(void *h, const char *line) {
  fake *f = h;
  size_t n = strlen(f->trace);
  snprintf(f->trace + n, sizeof f->trace - n, "%s\n", line);
}

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

static void block_mapped_files_are_reported_and_checked_too(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx = ctx_for(&f, FX_N_POINTS);
  char err[256] = "";
  /* 280 KiB of 1 KiB blocks: 12 direct, 256 through the indirect block, 12 more through the
   * double-indirect one. */
  void *inst = fl_ext2fs_engine()->create(ctx,
                                          "{\"size\":2097152,\"block-size\":1024,\"features\":[\"^extents\",\"^64bit\"],"
                                          "\"files\":[{\"path\":\"/a\",\"size\":286720}]}",
                                          NULL, 0, err, sizeof err);
  assert_non_null(inst);
  assert_int_equal(fl_ext2fs_engine()->setup(inst), 0);
  char *json = fl_ext2fs_engine()->snapshot(inst);
  fx_json *root = fx_json_parse(json);
  assert_non_null(root);
  unsigned long long mapped = 0, start, end;
  int records = 0;
  for (const fx_json *x = fx_json_get(root, "extents")->child; x; x = x->next) {
    if (strcmp(fx_json_string(x, "file"), "/a") != 0) continue;
    assert_true(fx_json_number(fx_json_get(x, "range"), "start", &start));
    assert_true(fx_json_number(fx_json_get(x, "range"), "end", &end));
    mapped += end - start;
    records++;
  }
  assert_int_equal(mapped, 286720); /* every data block, in runs */
  assert_true(records >= 2);        /* the indirect blocks split the runs on disk */
  assert_null(fx_json_get(root, "assertions")->child); /* bitmap and i_blocks agree */
  fx_json_free(root);
  free(json);
  assert_null(fl_ext2fs_engine()->verify(inst));
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void extent_handles_the_library_leaks_are_held_resources(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx = ctx_for(&f, FX_N_POINTS);
  char err[256] = "";
  void *inst = fl_ext2fs_engine()->create(
      ctx, "{\"size\":2097152,\"block-size\":1024,\"files\":[{\"path\":\"/deep\",\"size\":262144,\"sparse\":1}]}", NULL,
      0, err, sizeof err);
  assert_non_null(inst);
  assert_int_equal(fl_ext2fs_engine()->setup(inst), 0);
  /* ext2fs_punch opens and frees extent handles inside the library: they pass through here. */
  unsigned long before = fx_extent_handles_opened();
  fl_buf out = {0};
  assert_int_equal(
      fl_ext2fs_engine()->perform(inst, "{\"kind\":\"punch\",\"path\":\"/deep\",\"offset\":4096,\"length\":65536}", &out),
      0);
  assert_true(fx_extent_handles_opened() > before);
  char *json = fl_ext2fs_engine()->snapshot(inst);
  assert_null(strstr(json, "extent handle")); /* all freed */
  free(json);
  /* A handle opened during an operation and never freed is reported, with who opened it. */
  fx_engine *e = inst;
  ext2_ino_t ino;
  assert_int_equal(ext2fs_namei(e->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/deep", &ino), 0);
  ext2_extent_handle_t h;
  fx_running(e);
  assert_int_equal(ext2fs_extent_open2(e->fs, ino, NULL, &h), 0);
  json = fl_ext2fs_engine()->snapshot(inst);
  assert_non_null(strstr(json, "\"object\":\"extent handle /deep\""));
  free(json);
  ext2fs_extent_free(h);
  json = fl_ext2fs_engine()->snapshot(inst);
  assert_null(strstr(json, "extent handle"));
  free(json);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void snapshot_numbers_are_plain_decimal(void **state) {
  (void)state;
  const unsigned long long v[] = {0, 7, 9, 10, 42, 99, 100, 101, 999, 1000, 65536, 1000000007ULL, 18446744073709551615ULL};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    char got[32], want[32];
    *fx_u64(got, v[i]) = 0;
    snprintf(want, sizeof want, "%llu", v[i]);
    assert_string_equal(got, want);
  }
}

/* --- fx_disk: the scenario's in-memory image ------------------------------------------------- */

enum { BASE_PAGES = 6 };

static unsigned char *base_image(void) {
  unsigned char *b = malloc(BASE_PAGES * FX_PAGE);
  for (int i = 0; i < BASE_PAGES * FX_PAGE; i++) b[i] = (unsigned char)(i * 7 + i / FX_PAGE);
  memset(b + 4 * FX_PAGE, 0, FX_PAGE); /* a page of zeros, as most of an image is */
  return b;
}

static fx_disk disk_over(const unsigned char *base) {
  unsigned long long k1, k2;
  fx_disk_key_of(base, BASE_PAGES * FX_PAGE, &k1, &k2);
  fx_disk d;
  assert_int_equal(fx_disk_init(&d, base, BASE_PAGES * FX_PAGE, k1, k2), 0);
  return d;
}

static void disk_reads_through_to_the_base_and_copies_only_written_pages(void **state) {
  (void)state;
  unsigned char *base = base_image(), *copy = malloc(BASE_PAGES * FX_PAGE), buf[3 * FX_PAGE];
  memcpy(copy, base, BASE_PAGES * FX_PAGE);
  fx_disk d = disk_over(base);
  assert_int_equal(fx_disk_read(&d, 0, BASE_PAGES * FX_PAGE, copy), 0);
  assert_memory_equal(copy, base, BASE_PAGES * FX_PAGE);
  /* Ten bytes across the boundary of pages 1 and 2: two private pages, the base untouched. */
  const char *ten = "0123456789";
  assert_int_equal(fx_disk_write(&d, 2 * FX_PAGE - 4, 10, ten), 0);
  assert_int_equal(d.n_written, 2);
  assert_memory_equal(base, copy, BASE_PAGES * FX_PAGE);
  assert_int_equal(fx_disk_read(&d, FX_PAGE, 2 * FX_PAGE, buf), 0);
  assert_memory_equal(buf, base + FX_PAGE, FX_PAGE - 4);
  assert_memory_equal(buf + FX_PAGE - 4, ten, 10);
  assert_memory_equal(buf + FX_PAGE + 6, base + 2 * FX_PAGE + 6, FX_PAGE - 6);
  /* Zeros (discard, zeroout) are a write of NULL. */
  assert_int_equal(fx_disk_write(&d, 0, 16, NULL), 0);
  assert_int_equal(fx_disk_read(&d, 0, 16, buf), 0);
  for (int i = 0; i < 16; i++) assert_int_equal(buf[i], 0);
  /* Past the end: what is there, then zeros and a short read, as from an image file. */
  memset(buf, 0xEE, sizeof buf);
  assert_int_equal(fx_disk_read(&d, (BASE_PAGES - 1) * FX_PAGE, 2 * FX_PAGE, buf), EXT2_ET_SHORT_READ);
  assert_memory_equal(buf, base + (BASE_PAGES - 1) * FX_PAGE, FX_PAGE);
  for (int i = FX_PAGE; i < 2 * FX_PAGE; i++) assert_int_equal(buf[i], 0);
  /* A write past the end grows the image; the gap reads as zeros. */
  assert_int_equal(fx_disk_write(&d, (BASE_PAGES + 3) * FX_PAGE + 5, 3, "abc"), 0);
  assert_int_equal(d.len, (BASE_PAGES + 3) * FX_PAGE + 8);
  assert_int_equal(fx_disk_read(&d, BASE_PAGES * FX_PAGE, 3 * FX_PAGE + 8, buf), 0);
  for (int i = 0; i < 3 * FX_PAGE + 5; i++) assert_int_equal(buf[i], 0);
  assert_memory_equal(buf + 3 * FX_PAGE + 5, "abc", 3);
  fx_disk_free(&d);
  free(copy);
  free(base);
}

static void disk_key_is_a_function_of_the_bytes(void **state) {
  (void)state;
  unsigned char *base = base_image();
  unsigned long long b1, b2, k1, k2, f1, f2;
  fx_disk_key_of(base, BASE_PAGES * FX_PAGE, &b1, &b2);
  fx_disk d = disk_over(base);
  fx_disk_key(&d, &k1, &k2);
  assert_true(k1 == b1 && k2 == b2);
  /* Writing what is already there copies the page but leaves the key. */
  assert_int_equal(fx_disk_write(&d, 3 * FX_PAGE + 100, 50, base + 3 * FX_PAGE + 100), 0);
  fx_disk_key(&d, &k1, &k2);
  assert_true(k1 == b1 && k2 == b2);
  /* One byte changed: another key; changed back: the base's key again. */
  unsigned char x = base[3 * FX_PAGE + 7] ^ 1;
  assert_int_equal(fx_disk_write(&d, 3 * FX_PAGE + 7, 1, &x), 0);
  fx_disk_key(&d, &k1, &k2);
  assert_false(k1 == b1 && k2 == b2);
  /* Moving bytes between pages is a change too (the hash knows each page's place). */
  fx_disk swapped = disk_over(base);
  assert_int_equal(fx_disk_write(&swapped, 0, FX_PAGE, base + FX_PAGE), 0);
  assert_int_equal(fx_disk_write(&swapped, FX_PAGE, FX_PAGE, base), 0);
  fx_disk_key(&swapped, &f1, &f2);
  assert_false(f1 == b1 && f2 == b2);
  fx_disk_free(&swapped);
  assert_int_equal(fx_disk_write(&d, 3 * FX_PAGE + 7, 1, base + 3 * FX_PAGE + 7), 0);
  fx_disk_key(&d, &k1, &k2);
  assert_true(k1 == b1 && k2 == b2);
  /* The key of the whole image, grown or not, equals the key of its flattened bytes. */
  assert_int_equal(fx_disk_write(&d, 2 * FX_PAGE, 5, "hello"), 0);
  assert_int_equal(fx_disk_write(&d, (BASE_PAGES + 1) * FX_PAGE + 3, 4, "tail"), 0);
  unsigned char *flat = fx_disk_flatten(&d);
  assert_non_null(flat);
  fx_disk_key(&d, &k1, &k2);
  fx_disk_key_of(flat, d.len, &f1, &f2);
  assert_true(k1 == f1 && k2 == f2);
  free(flat);
  fx_disk_free(&d);
  free(base);
}

/* The memfd e2fsck reads holds exactly `d`'s bytes. */
static void assert_exposed(const fx_disk *d) {
  int fd = fx_disk_expose(d);
  assert_true(fd >= 0);
  assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)d->len);
  unsigned char *flat = fx_disk_flatten(d), *got = malloc(d->len);
  assert_int_equal(pread(fd, got, d->len, 0), (ssize_t)d->len);
  assert_memory_equal(got, flat, d->len);
  free(got);
  free(flat);
}

static void exposed_disk_is_exactly_the_image_scenario_after_scenario(void **state) {
  (void)state;
  unsigned char *base = base_image();
  fx_disk a = disk_over(base), b = disk_over(base), c = disk_over(base);
  assert_int_equal(fx_disk_write(&a, 5, 3000, NULL), 0);
  assert_int_equal(fx_disk_write(&a, (BASE_PAGES + 2) * FX_PAGE, 9, "grown past"), 0);
  assert_exposed(&a);
  /* The next scenario wrote elsewhere: a's pages are put back, the growth cut off. */
  assert_int_equal(fx_disk_write(&b, 4 * FX_PAGE + 1, 4, "four"), 0);
  assert_exposed(&b);
  assert_exposed(&c); /* wrote nothing: the setup's image itself */
  assert_exposed(&a);
  fx_disk_free(&a);
  fx_disk_free(&b);
  fx_disk_free(&c);
  free(base);
}

/* --- fragile edges of the C side (issue 12 item 10) ------------------------------------------ */

static void json_backslash_at_the_end_is_malformed_not_a_read_past_the_end(void **state) {
  (void)state;
  /* A string whose last character is a backslash, then the NUL, then bytes that would close it. */
  const char text[] = {'"', '\\', '\0', '"', '\0'};
  assert_null(fx_json_parse(text));
  assert_null(fx_json_parse("{\"a\":\"x\\"));
  assert_null(fx_json_parse("\"\\u12\"")); /* \u needs four hex digits */
  assert_null(fx_json_parse("\"\\u00zz\""));
  fx_json *ok = fx_json_parse("{\"k\":\"a\\\\b\\u0041\\n\"}");
  assert_non_null(ok);
  assert_string_equal(fx_json_string(ok, "k"), "a\\bA\n");
  fx_json_free(ok);
}

static void building_an_image_leaves_the_environment_alone(void **state) {
  (void)state;
  const char *was = getenv("E2FSPROGS_FAKE_TIME");
  char *saved = was ? strdup(was) : NULL;
  unsetenv("E2FSPROGS_FAKE_TIME");
  /* A setup no other test builds, so it is made here (mke2fs runs). */
  const char *setup = "{\"size\":1572864,\"block-size\":1024,\"inodes\":48}";
  fx_config cfg;
  char err[256] = "";
  assert_int_equal(fx_parse_config(setup, &cfg, err, sizeof err), 0);
  const unsigned char *bytes;
  size_t len;
  unsigned long long k1, k2;
  assert_int_equal(fx_setup_image(setup, &cfg, &bytes, &len, &k1, &k2, err, sizeof err), 0);
  assert_null(getenv("E2FSPROGS_FAKE_TIME")); /* the library did not setenv */
  /* mke2fs had it all the same: the superblock's times are the fixed ones. */
  const struct ext2_super_block *sb = (const struct ext2_super_block *)(bytes + 1024);
  assert_int_equal(sb->s_mkfs_time, 1700000000u);
  if (saved) setenv("E2FSPROGS_FAKE_TIME", saved, 1);
  free(saved);
}

static void *failing_calloc(size_t n, size_t size) {
  (void)n, (void)size;
  return NULL;
}

static void a_read_that_cannot_allocate_fails(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  assert_int_equal(write_op(inst, "/a", 0, 3000), 0);
  fx_calloc = failing_calloc;
  fl_buf out = {0};
  int rc = fl_ext2fs_engine()->perform(inst, "{\"kind\":\"read\",\"path\":\"/a\"}", &out);
  fx_calloc = calloc;
  assert_int_equal(rc, ENOMEM);
  assert_null(out.data);
  assert_int_equal(out.len, 0);
  /* With memory, the same read returns the bytes. */
  assert_int_equal(fl_ext2fs_engine()->perform(inst, "{\"kind\":\"read\",\"path\":\"/a\"}", &out), 0);
  assert_int_equal(out.len, 3000);
  assert_int_equal(out.data[2999], 17);
  free(out.data);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

/* A fake e2fsck first on PATH: a shell script `body` in a fresh directory (returned, malloc'd). */
static char *fake_e2fsck(const char *body) {
  char tmpl[] = "/tmp/faultline-fake-e2fsck-XXXXXX";
  char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  char path[512];
  snprintf(path, sizeof path, "%s/e2fsck", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\nd=$(dirname \"$0\")\n%s\n", body);
  fclose(f);
  chmod(path, 0755);
  return strdup(dir);
}

static char *saved_path;
static void put_first_on_path(const char *dir) {
  saved_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  char *p = malloc(strlen(dir) + strlen(saved_path) + 2);
  sprintf(p, "%s:%s", dir, saved_path);
  setenv("PATH", p, 1);
  free(p);
}
static void restore_path(void) {
  setenv("PATH", saved_path, 1);
  free(saved_path);
}

static void read_file_in(const char *dir, const char *name, char *buf, size_t size) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  buf[0] = 0;
  if (!f) return;
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = 0;
  fclose(f);
}

static void remove_dir(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "cfaultline-tests: a test did not finish in 60 s (e2fsck waited on forever)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

static void e2fsck_output_is_read_to_the_end_however_long(void **state) {
  (void)state;
  /* 20 MB of output, far more than 4096 reads, then exit 4: all of it is read (the first MiB
   * kept), the exit status is e2fsck's, and it ran with the fixed time in its environment. */
  char *dir = fake_e2fsck("echo \"$E2FSPROGS_FAKE_TIME\" > \"$d/env\"\n"
                          "head -c 20000000 /dev/zero | tr '\\0' 'x'\nexit 4");
  put_first_on_path(dir);
  unsigned char *base = base_image();
  fx_disk d = disk_over(base);
  fx_buf out = {0};
  signal(SIGALRM, on_alarm);
  alarm(60);
  int status = fx_run_e2fsck(&d, &out);
  alarm(0);
  restore_path();
  assert_int_equal(status, 4);
  assert_non_null(out.s);
  assert_non_null(strstr(out.s, "more bytes of e2fsck's output not kept"));
  assert_true(out.len < FX_FSCK_KEEP + 200);
  char env[64];
  read_file_in(dir, "env", env, sizeof env);
  assert_string_equal(env, "1700000000\n");
  free(out.s);
  fx_disk_free(&d);
  free(base);
  remove_dir(dir);
  free(dir);
}

static void a_hung_e2fsck_is_killed_reaped_and_reported(void **state) {
  (void)state;
  char *dir = fake_e2fsck("echo $$ > \"$d/pid\"\necho checking\nexec sleep 1000");
  put_first_on_path(dir);
  setenv("FAULTLINE_EXT2FS_FSCK_TIMEOUT", "3", 1);
  unsigned char *base = base_image();
  fx_disk d = disk_over(base);
  fx_buf out = {0};
  signal(SIGALRM, on_alarm);
  alarm(60);
  int status = fx_run_e2fsck(&d, &out);
  alarm(0);
  unsetenv("FAULTLINE_EXT2FS_FSCK_TIMEOUT");
  restore_path();
  assert_int_equal(status, FX_FSCK_TIMED_OUT);
  assert_non_null(out.s);
  assert_non_null(strstr(out.s, "checking"));
  char pid[32];
  read_file_in(dir, "pid", pid, sizeof pid);
  assert_true(atoi(pid) > 0);
  /* Killed and reaped: not even a zombie is left. */
  assert_int_equal(kill((pid_t)atoi(pid), 0), -1);
  assert_int_equal(errno, ESRCH);
  free(out.s);
  fx_disk_free(&d);
  free(base);
  remove_dir(dir);
  free(dir);
}

/* --- the snapshot leaves nothing out silently (issue 12 item 1) ------------------------------- */

static int count_of(const char *haystack, const char *needle) {
  int n = 0;
  for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void snapshot_lists_every_name_and_says_what_it_cannot_read(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fx_engine *e = inst;
  fx_running(e);
  ext2_ino_t a;
  assert_int_equal(ext2fs_namei(e->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &a), 0);
  /* 1100 more names (hard links to /a): more than the 1024 the snapshot used to stop at. */
  for (int i = 0; i < 1100; i++) {
    char name[16];
    snprintf(name, sizeof name, "x%04d", i);
    errcode_t rc = ext2fs_link(e->fs, EXT2_ROOT_INO, name, a, EXT2_FT_REG_FILE);
    if (rc == EXT2_ET_DIR_NO_SPACE) {
      assert_int_equal(ext2fs_expand_dir(e->fs, EXT2_ROOT_INO), 0);
      rc = ext2fs_link(e->fs, EXT2_ROOT_INO, name, a, EXT2_FT_REG_FILE);
    }
    assert_int_equal(rc, 0);
  }
  char *json = fl_ext2fs_engine()->snapshot(inst);
  assert_non_null(json);
  assert_int_equal(count_of(json, "{\"path\":\"/x"), 1100);
  assert_null(strstr(json, "\"unreadable\"")); /* all of it was read */
  free(json);
  /* A name whose inode cannot be read is said, not skipped. */
  assert_int_equal(ext2fs_link(e->fs, EXT2_ROOT_INO, "ghost", 60000, EXT2_FT_REG_FILE), 0);
  json = fl_ext2fs_engine()->snapshot(inst);
  fx_json *root = fx_json_parse(json);
  assert_non_null(root);
  const fx_json *u = fx_json_get(root, "unreadable");
  assert_non_null(u);
  assert_int_equal(u->type, FX_JSON_ARRAY);
  assert_non_null(u->child);
  assert_non_null(strstr(u->child->string, "inode 60000 (/ghost): ext2fs_read_inode failed"));
  fx_json_free(root);
  free(json);
  /* Past the bound on names: that is said too. */
  fx_max_names = 500;
  json = fl_ext2fs_engine()->snapshot(inst);
  fx_max_names = FX_MAX_NAMES;
  assert_int_equal(count_of(json, "{\"path\":"), 500);
  assert_non_null(strstr(json, "more than 500 names: the names after the 500th were not read"));
  free(json);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void an_extent_tree_that_cannot_be_read_is_said_not_left_out(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx = ctx_for(&f, FX_N_POINTS);
  char err[256] = "";
  void *inst = fl_ext2fs_engine()->create(
      ctx, "{\"size\":2097152,\"block-size\":1024,\"files\":[{\"path\":\"/deep\",\"size\":262144,\"sparse\":1}]}", NULL,
      0, err, sizeof err);
  assert_non_null(inst);
  assert_int_equal(fl_ext2fs_engine()->setup(inst), 0);
  fx_engine *e = inst;
  fx_running(e);
  /* The first index entry's child node, overwritten with zeros on the disk: no extent header. */
  ext2_ino_t ino;
  assert_int_equal(ext2fs_namei(e->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/deep", &ino), 0);
  ext2_extent_handle_t h;
  struct ext2fs_extent ex;
  assert_int_equal(ext2fs_extent_open2(e->fs, ino, NULL, &h), 0);
  assert_int_equal(ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex), 0);
  assert_false(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF); /* the root holds index entries */
  blk64_t node = ex.e_pblk;
  ext2fs_extent_free(h);
  assert_int_equal(fx_disk_write(&e->disk, node * e->fs->blocksize, e->fs->blocksize, NULL), 0);
  char *json = fl_ext2fs_engine()->snapshot(inst);
  assert_non_null(json);
  char want[96];
  snprintf(want, sizeof want, "inode %u (/deep): its extent tree after ", (unsigned)ino);
  assert_non_null(strstr(json, want));
  /* No fault is armed while the snapshot reads: a tree the library cannot walk is its own state. */
  assert_non_null(
      strstr(json, "\"rule\":\"in-memory-consistent\",\"detail\":\"/deep: its extent tree cannot be walked"));
  free(json);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

/* --- "expected" needs a cause (issue 12 item 4) ------------------------------------------------ */

static void block_kinds_name_the_layout_and_what_files_map(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fx_engine *e = inst;
  fx_running(e);
  assert_int_equal(write_op(inst, "/a", 0, 3072), 0);
  ext2_filsys fs = e->fs;
  fx_block_info b;
  char text[256];
  fx_block_kind(e, 1, NULL, &b); /* 1 KiB blocks: the superblock is block 1 */
  assert_int_equal(b.kind, FX_BLK_SUPERBLOCK);
  fx_block_kind(e, 2, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_GROUP_DESC);
  fx_block_kind(e, ext2fs_block_bitmap_loc(fs, 0), NULL, &b);
  assert_int_equal(b.kind, FX_BLK_BLOCK_BITMAP);
  fx_block_kind(e, ext2fs_inode_bitmap_loc(fs, 0), NULL, &b);
  assert_int_equal(b.kind, FX_BLK_INODE_BITMAP);
  /* The inode table block holding /a (inode 12 with 256-byte inodes: inodes 9-12). */
  ext2_ino_t a;
  assert_int_equal(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &a), 0);
  blk64_t table = ext2fs_inode_table_loc(fs, 0) + (a - 1) / EXT2_INODES_PER_BLOCK(fs->super);
  fx_block_kind(e, table, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_INODE_TABLE);
  assert_true(b.ino <= a && a <= b.last_ino);
  fx_block_describe(&b, text, sizeof text);
  char want[128];
  snprintf(want, sizeof want, "block %llu (inode table of group 0, inodes %u-%u)", (unsigned long long)table,
           (unsigned)b.ino, (unsigned)b.last_ino);
  assert_string_equal(text, want);
  /* /a's data, file block 2; the root directory's block. */
  blk64_t data;
  assert_int_equal(ext2fs_bmap2(fs, a, NULL, NULL, 0, 2, NULL, &data), 0);
  fx_block_kind(e, data, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_DATA);
  assert_int_equal(b.ino, a);
  assert_int_equal(b.lblk, 2);
  blk64_t root;
  assert_int_equal(ext2fs_bmap2(fs, EXT2_ROOT_INO, NULL, NULL, 0, 0, NULL, &root), 0);
  fx_block_kind(e, root, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_DIR);
  assert_int_equal(b.ino, EXT2_ROOT_INO);
  /* A block nothing maps, and one this scenario allocated and has not mapped yet. */
  blk64_t spare;
  assert_int_equal(ext2fs_new_block2(fs, 0, NULL, &spare), 0); /* through the hook: noted */
  fx_block_kind(e, spare, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_NEW);
  fx_block_kind(e, spare + 1, NULL, &b);
  assert_int_equal(b.kind, FX_BLK_FREE);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

/* The e2fsck output of a scenario in which a write to inodes 13-16's table block failed. */
static const char *const sample_e2fsck =
    "e2fsck 1.47.0 (5-Feb-2023)\n"
    "Pass 1: Checking inodes, blocks, and sizes\n"
    "Inode 14, i_blocks is 6, should be 8.  Fix? no\n\n"
    "Inode 20, i_size is 4096, should be 8192.  Fix? no\n\n"
    "Inode 14 extent tree (at level 1) could be shorter.  Optimize? no\n\n"
    "Pass 2: Checking directory structure\n"
    "Entry 'x' in / (2) has deleted/unused inode 15.  Clear? no\n\n"
    "Pass 3: Checking directory connectivity\n"
    "Pass 4: Checking reference counts\n"
    "Unattached inode 21\n"
    "Connect to /lost+found? no\n\n"
    "Pass 5: Checking group summary information\n"
    "Block bitmap differences:  -500 -(510--511)\n"
    "Fix? no\n\n"
    "Block bitmap differences:  +600\n"
    "Fix? no\n\n"
    "Free blocks count wrong for group #0 (1958, counted=1954).\n"
    "Fix? no\n\n"
    "Inode bitmap differences:  -16\n"
    "Fix? no\n\n"
    "\nimage: ********** WARNING: Filesystem still has errors **********\n\n"
    "image: 12/256 files (8.3% non-contiguous), 94/2048 blocks\n";

static void complaints_are_excused_only_by_a_failure_that_explains_them(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fx_engine *e = inst;
  fx_running(e);
  /* One failed write: inodes 13-16's inode table block. Blocks 500 and 510-511 were allocated
   * in this scenario for inode 14; block 600 for inode 20, which no failure touched. */
  e->failed = calloc(1, sizeof *e->failed);
  e->n_failed = e->cap_failed = 1;
  e->failed[0] = (fx_failed_io){.point = FX_IO_WRITE, .hit = 7, .op = 2, .blk = 53, .count = 1, .n_info = 1};
  e->failed[0].info[0] = (fx_block_info){.blk = 53, .kind = FX_BLK_INODE_TABLE, .ino = 13, .last_ino = 16};
  fx_note_alloc(e, 500, 1, 14, 0);
  fx_note_alloc(e, 510, 2, 14, 1);
  fx_complaints *cs = fx_complaints_parse(sample_e2fsck);
  assert_non_null(cs);
  fx_complaints_excuse(e, cs);
  struct {
    const char *starts;
    int damage, excused;
    const char *why;
  } want[] = {
      {"Inode 14, i_blocks is 6, should be 8.  Fix? no", 1, 1, "inode 14: io.write#7 failed block 53 (inode table"},
      {"Inode 20, i_size", 1, 0, "not explained: it concerns inode 20"},
      {"Inode 14 extent tree (at level 1) could be shorter", 0, 0, ""},
      {"Entry 'x' in / (2) has deleted/unused inode 15.", 1, 1, "inode 15: io.write#7"},
      {"Unattached inode 21 Connect to /lost+found? no", 1, 0, "not explained"},
      {"Block bitmap differences:  -500 -(510--511) Fix? no", 1, 1, "allocated in this scenario for inode 14"},
      {"Block bitmap differences:  +600 Fix? no", 1, 0, "never excused: blocks in use that the block bitmap has free"},
      {"Free blocks count wrong for group #0", 1, 0, "never excused: a count"},
      {"Inode bitmap differences:  -16 Fix? no", 1, 1, "inode 16: io.write#7"},
  };
  assert_int_equal(fx_complaints_count(cs), sizeof want / sizeof *want);
  for (int i = 0; i < fx_complaints_count(cs); i++) {
    const char *text = fx_complaint_text(cs, i), *why = fx_complaint_why(cs, i);
    if (strncmp(text, want[i].starts, strlen(want[i].starts)) != 0) fail_msg("complaint %d: %s", i, text);
    assert_int_equal(fx_complaint_is_damage(cs, i), want[i].damage);
    if (fx_complaint_excused(cs, i) != want[i].excused) fail_msg("complaint %d: %s [%s]", i, text, why);
    if (!strstr(why, want[i].why)) fail_msg("complaint %d: %s [%s]", i, text, why);
  }
  fx_complaints_free(cs);
  /* A leak of a block allocated for an inode no failure touched is not excused. */
  cs = fx_complaints_parse("Block bitmap differences:  -600\nFix? no\n");
  fx_note_alloc(e, 600, 1, 20, 0);
  fx_complaints_excuse(e, cs);
  assert_int_equal(fx_complaints_count(cs), 1);
  assert_int_equal(fx_complaint_excused(cs, 0), 0);
  fx_complaints_free(cs);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void a_failed_inode_write_is_traced_with_its_block_and_excuses_only_its_damage(void **state) {
  (void)state;
  /* create /b: ext2fs_link writes the root directory's block (passes), then the new inode's
   * table block is written (fails): the name points at an inode never written. */
  fake f = {.fail_point = FX_IO_WRITE, .fail_err = EIO, .fail_after = 1, .fail_times = 1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fl_buf out = {0};
  assert_int_equal(fl_ext2fs_engine()->perform(inst, "{\"kind\":\"create\",\"path\":\"/b\"}", &out), EIO);
  assert_non_null(strstr(f.trace, "io.write#2 failed block "));
  assert_non_null(strstr(f.trace, "(inode table of group 0, inodes 13-16)"));
  char *findings = fl_ext2fs_engine()->verify(inst);
  assert_non_null(findings);
  assert_non_null(strstr(findings, "\"invariant\":\"io-error-damage\""));
  assert_non_null(strstr(findings, "has deleted/unused inode 13"));
  assert_non_null(strstr(findings, "[explained: inode 13: io.write#2 failed block"));
  assert_null(strstr(findings, "error-path-consistent")); /* everything is explained */
  free(findings);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

/* --- data: stamped writes, every file readable, recover (issue 12 item 3) --------------------- */

static void stamp_fill_by_units_gives_the_same_bytes_as_byte_by_byte(void **state) {
  (void)state;
  /* The definition's own layout: offset LE in bytes 0-7, file id 8-11, generation 12-14, pattern 15. */
  uint32_t id = fl_stamp_file_id("/a");
  assert_int_equal(id, 0x70d2182du); /* FNV-1a 32 of "/a" */
  assert_int_equal(fl_stamp_byte(0x1230, id, 0xABCDEF12u, 0x5A), 0x30);
  assert_int_equal(fl_stamp_byte(0x1231, id, 0xABCDEF12u, 0x5A), 0x12);
  assert_int_equal(fl_stamp_byte(0x1238, id, 0xABCDEF12u, 0x5A), (uint8_t)id);
  assert_int_equal(fl_stamp_byte(0x123C, id, 0xABCDEF12u, 0x5A), 0x12);
  assert_int_equal(fl_stamp_byte(0x123E, id, 0xABCDEF12u, 0x5A), 0xCD); /* low 24 bits only */
  assert_int_equal(fl_stamp_byte(0x123F, id, 0xABCDEF12u, 0x5A), 0x5A);
  /* Every start and length around unit boundaries, and large ones, with high offsets. */
  static uint8_t a[4200], b[4200];
  const uint64_t bases[] = {0, 1, 15, 16, 17, 4095, 4096, (1ull << 40) + 3, ~0ull - 5000};
  for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
    for (size_t start = 0; start < 40; start++) {
      const size_t lens[] = {0, 1, 2, 15, 16, 17, 31, 33, 100, 4096, 4163};
      for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
        memset(a, 0xEE, sizeof a);
        memset(b, 0xEE, sizeof b);
        uint64_t off = bases[i] + start;
        fl_stamp_fill(a, lens[l], off, id, 7, 0x33);
        fl_stamp_fill_units(b, lens[l], off, id, 7, 0x33);
        if (memcmp(a, b, sizeof a) != 0) fail_msg("offset %llu length %zu differ", (unsigned long long)off, lens[l]);
      }
    }
  }
}

static fl_buf read_op(void *inst, const char *path, int *rc) {
  char op[256];
  snprintf(op, sizeof op, "{\"kind\":\"read\",\"path\":\"%s\"}", path);
  fl_buf out = {0};
  *rc = fl_ext2fs_engine()->perform(inst, op, &out);
  return out;
}

static void a_write_with_a_generation_writes_stamped_bytes(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fl_buf out = {0};
  /* Unaligned offset and length, across 1 KiB blocks; then an append (stamped from the EOF). */
  const char *write =
      "{\"kind\":\"write\",\"path\":\"/a\",\"offset\":5,\"length\":3000,\"pattern\":51,\"generation\":7}";
  const char *append = "{\"kind\":\"append\",\"path\":\"/a\",\"length\":1000,\"pattern\":52,\"generation\":8}";
  assert_int_equal(fl_ext2fs_engine()->perform(inst, write, &out), 0);
  assert_int_equal(fl_ext2fs_engine()->perform(inst, append, &out), 0);
  int rc;
  out = read_op(inst, "/a", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(out.len, 4005);
  uint8_t want[4005];
  memset(want, 0, 5);
  fl_stamp_fill(want + 5, 3000, 5, fl_stamp_file_id("/a"), 7, 51);
  fl_stamp_fill(want + 3005, 1000, 3005, fl_stamp_file_id("/a"), 8, 52);
  assert_memory_equal(out.data, want, sizeof want);
  free(out.data);
  /* Without a generation: the pattern byte in every byte, as before. */
  assert_int_equal(write_op(inst, "/a", 10, 20), 0); /* pattern 17 */
  out = read_op(inst, "/a", &rc);
  for (int i = 10; i < 30; i++) assert_int_equal(out.data[i], 17);
  assert_int_equal(out.data[30], want[30]);
  free(out.data);
  fl_ext2fs_engine()->destroy(inst);
  fl_ctx_free(ctx);
}

static void every_kind_of_file_reads_back(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  const fl_engine *e = fl_ext2fs_engine();
  fl_buf out = {0};
  char slow[200];
  memset(slow, 's', sizeof slow - 1);
  slow[0] = '/';
  slow[sizeof slow - 1] = 0;
  char op[400];
  assert_int_equal(e->perform(inst, "{\"kind\":\"symlink\",\"path\":\"/fast\",\"target\":\"/a\"}", &out), 0);
  snprintf(op, sizeof op, "{\"kind\":\"symlink\",\"path\":\"/slow\",\"target\":\"%s\"}", slow);
  assert_int_equal(e->perform(inst, op, &out), 0);
  assert_int_equal(e->perform(inst, "{\"kind\":\"mkdir\",\"path\":\"/d\"}", &out), 0);
  int rc;
  out = read_op(inst, "/fast", &rc); /* its target is in the inode: no blocks to read */
  assert_int_equal(rc, 0);
  assert_int_equal(out.len, 2);
  assert_memory_equal(out.data, "/a", 2);
  free(out.data);
  out = read_op(inst, "/slow", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(out.len, strlen(slow));
  assert_memory_equal(out.data, slow, strlen(slow));
  free(out.data);
  out = read_op(inst, "/d", &rc); /* a directory: its block as it is */
  assert_int_equal(rc, 0);
  assert_int_equal(out.len, 1024);
  free(out.data);
  e->destroy(inst);
  fl_ctx_free(ctx);
}

static void recover_is_a_crash_then_a_mount(void **state) {
  (void)state;
  fake f = {.fail_point = -1};
  fl_ctx *ctx;
  void *inst = ext2fs_with(&f, &ctx);
  fx_engine *e = inst;
  const fl_engine *eng = fl_ext2fs_engine();
  assert_int_equal(write_op(inst, "/a", 0, 5000), 0); /* not flushed: the bitmaps are only in memory */
  ext2_ino_t a;
  assert_int_equal(ext2fs_namei(e->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/a", &a), 0);
  blk64_t blk;
  assert_int_equal(ext2fs_bmap2(e->fs, a, NULL, NULL, 0, 0, NULL, &blk), 0);
  assert_true(ext2fs_test_block_bitmap2(e->fs->block_map, blk));
  unsigned long long k1, k2, r1, r2;
  fx_disk_key(&e->disk, &k1, &k2);
  assert_int_equal(eng->recover(inst), 0);
  /* Nothing was written on the way down (a close would have written the bitmaps)... */
  fx_disk_key(&e->disk, &r1, &r2);
  assert_true(k1 == r1 && k2 == r2);
  /* ...so the mounted filesystem has the disk's bitmap, which never heard of the block, */
  assert_false(ext2fs_test_block_bitmap2(e->fs->block_map, blk));
  /* while the data and the inode, written through, read back whole. */
  int rc;
  fl_buf out = read_op(inst, "/a", &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(out.len, 5000);
  for (int i = 0; i < 5000; i++)
    if (out.data[i] != 17) fail_msg("byte %d is %d", i, out.data[i]);
  free(out.data);
  eng->destroy(inst);
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
      cmocka_unit_test(block_mapped_files_are_reported_and_checked_too),
      cmocka_unit_test(extent_handles_the_library_leaks_are_held_resources),
      cmocka_unit_test(snapshot_numbers_are_plain_decimal),
      cmocka_unit_test(disk_reads_through_to_the_base_and_copies_only_written_pages),
      cmocka_unit_test(disk_key_is_a_function_of_the_bytes),
      cmocka_unit_test(exposed_disk_is_exactly_the_image_scenario_after_scenario),
      cmocka_unit_test(json_backslash_at_the_end_is_malformed_not_a_read_past_the_end),
      cmocka_unit_test(building_an_image_leaves_the_environment_alone),
      cmocka_unit_test(a_read_that_cannot_allocate_fails),
      cmocka_unit_test(e2fsck_output_is_read_to_the_end_however_long),
      cmocka_unit_test(a_hung_e2fsck_is_killed_reaped_and_reported),
      cmocka_unit_test(snapshot_lists_every_name_and_says_what_it_cannot_read),
      cmocka_unit_test(an_extent_tree_that_cannot_be_read_is_said_not_left_out),
      cmocka_unit_test(block_kinds_name_the_layout_and_what_files_map),
      cmocka_unit_test(complaints_are_excused_only_by_a_failure_that_explains_them),
      cmocka_unit_test(a_failed_inode_write_is_traced_with_its_block_and_excuses_only_its_damage),
      cmocka_unit_test(stamp_fill_by_units_gives_the_same_bytes_as_byte_by_byte),
      cmocka_unit_test(a_write_with_a_generation_writes_stamped_bytes),
      cmocka_unit_test(every_kind_of_file_reads_back),
      cmocka_unit_test(recover_is_a_crash_then_a_mount),
  };
  return cmocka_run_group_tests_name("faultline C side", tests, NULL, NULL);
}
