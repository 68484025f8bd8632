/* A C engine plugin that breaks the ABI's promises on purpose, for the CLI tests of how
 * faultline copes (issue 12 items 1 and 2). Its plan's setup names what goes wrong:
 *
 *   setup: { misbehave: create-null }           create() returns NULL with a message
 *   setup: { misbehave: snapshot-null }         snapshot() returns NULL
 *   setup: { misbehave: snapshot-invalid }      snapshot() returns bytes that are not JSON
 *   setup: { misbehave: snapshot-unknown-key }  snapshot() has a top-level key faultline.h does not define
 *   setup: { misbehave: verify-invalid }        verify() returns bytes that are not JSON
 *
 * Otherwise it is a trivial engine: one file that `write` resizes, one fault point, a snapshot
 * in the common model. Tests/Fixtures/misbehaving/ holds a plan per behaviour.
 *   cc -shared -fPIC -I Sources/CFaultline/include Tests/Fixtures/misbehaving_engine.c -o misbehaving.so */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline.h"

enum { CREATE_NULL = 1, SNAPSHOT_NULL, SNAPSHOT_INVALID, SNAPSHOT_UNKNOWN_KEY, VERIFY_INVALID };

typedef struct bad {
  const fl_ctx *ctx;
  int mode;
  unsigned long long size;
} bad;

static const int eio[] = {EIO};
static const fl_point_def points[] = {{"io.write", FL_KIND_IO, eio, 1, "every write"}};
static const char *const operations[] = {"write", "fsync"};
static const char *const invariants[] = {"locks-released", "no-double-allocation"};

/* The behaviour the setup JSON names ({"misbehave":"..."}), 0 for none, -1 for an unknown one. */
static int mode_of(const char *setup) {
  static const char *const names[] = {"", "create-null", "snapshot-null", "snapshot-invalid", "snapshot-unknown-key",
                                      "verify-invalid"};
  const char *at = setup ? strstr(setup, "\"misbehave\":\"") : NULL;
  if (!at) return 0;
  at += strlen("\"misbehave\":\"");
  for (int i = 1; i < (int)(sizeof names / sizeof *names); i++) {
    size_t n = strlen(names[i]);
    if (strncmp(at, names[i], n) == 0 && at[n] == '"') return i;
  }
  return -1;
}

static int check_setup(const char *setup, char *err, size_t len) {
  if (mode_of(setup) >= 0) return 0;
  snprintf(err, len, "misbehave: expected create-null, snapshot-null, snapshot-invalid, snapshot-unknown-key or "
                     "verify-invalid");
  return 1;
}

static void *create(const fl_ctx *ctx, const char *setup, const char *const *bugs, int n_bugs, char *err,
                    size_t len) {
  (void)bugs, (void)n_bugs;
  int mode = mode_of(setup);
  if (mode == CREATE_NULL) {
    snprintf(err, len, "refusing to create an instance (misbehave: create-null)");
    return NULL;
  }
  bad *b = calloc(1, sizeof *b);
  if (!b) {
    snprintf(err, len, "out of memory");
    return NULL;
  }
  b->ctx = ctx;
  b->mode = mode;
  return b;
}

static int setup(void *p) {
  (void)p;
  return 0;
}

static int perform(void *p, const char *op, fl_buf *out) {
  (void)out;
  bad *b = p;
  if (strstr(op, "\"kind\":\"write\"")) {
    int err = fl_fail(b->ctx, 0);
    if (err) return err;
    const char *len = strstr(op, "\"length\":");
    if (len) b->size += strtoull(len + strlen("\"length\":"), NULL, 10);
  }
  return 0;
}

static char *snapshot(void *p) {
  bad *b = p;
  char buf[256];
  switch (b->mode) {
  case SNAPSHOT_NULL: return NULL;
  case SNAPSHOT_INVALID: return strdup("{\"pageSize\":4096,\"files\":[{\"path\":\"/a\",");
  case SNAPSHOT_UNKNOWN_KEY:
    snprintf(buf, sizeof buf, "{\"pageSize\":4096,\"files\":[{\"path\":\"/a\",\"size\":%llu}],\"lockz\":[]}", b->size);
    return strdup(buf);
  default:
    snprintf(buf, sizeof buf, "{\"pageSize\":4096,\"files\":[{\"path\":\"/a\",\"size\":%llu}],\"locks\":[]}", b->size);
    return strdup(buf);
  }
}

static int recover(void *p) {
  (void)p;
  return 0;
}

static void destroy(void *p) { free(p); }

static char *verify(void *p) {
  bad *b = p;
  return b->mode == VERIFY_INVALID ? strdup("[{\"invariant\": \"image-consistent\", \"message\": ") : NULL;
}

static const fl_engine engine = {
    .abi_version = FL_ABI_VERSION,
    .name = "misbehaving",
    .about = "breaks the C ABI's promises as its setup says (test fixture)",
    .points = points,
    .n_points = 1,
    .operations = operations,
    .n_operations = 2,
    .invariants = invariants,
    .n_invariants = 2,
    .check_setup = check_setup,
    .create = create,
    .setup = setup,
    .perform = perform,
    .snapshot = snapshot,
    .recover = recover,
    .destroy = destroy,
    .verify = verify,
};

const fl_engine *faultline_engine(void) { return &engine; }
