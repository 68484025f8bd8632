/*
 * toy-c: the smallest useful Faultline engine in C, to copy from.
 *
 * A block store: files map file blocks to device blocks one by one; a write allocates missing
 * blocks (fault point alloc.block) and writes each block (io.write) while holding the file's
 * inode lock; fsync makes the file's size and mapping durable; recover goes back to what was
 * made durable. Two historical-style bugs can be switched on:
 *   write-error-keeps-inode-lock     an error returns without dropping the inode lock
 *   write-error-frees-mapped-blocks  an error frees the blocks it allocated but leaves them mapped
 *
 * Build it as a plugin and run plans against it:
 *   cc -shared -fPIC -O2 -I Sources/CFaultline/include Examples/c-engine/toy_engine.c -o toy.so
 *   faultline run --engine-plugin toy.so Examples/c-engine/plans
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline.h"

enum { P_ALLOC, P_IO_WRITE, N_POINTS };
enum { BLOCK = 4096, MAX_FILES = 16, MAX_FILE_BLOCKS = 64, PATH_MAX_LEN = 64 };

static const int alloc_errnos[] = {ENOSPC};
static const int io_errnos[] = {EIO};
static const fl_point_def points[N_POINTS] = {
    {"alloc.block", FL_KIND_ALLOCATOR, alloc_errnos, 1, "toy_write: allocating a device block for a file block"},
    {"io.write", FL_KIND_IO, io_errnos, 1, "toy_write: writing one block to the device"},
};
static const char *const operations[] = {"create", "write", "read", "fsync", "unlink"};
static const fl_bug_def bugs[] = {
    {"write-error-keeps-inode-lock", "a failed write returns without dropping the inode lock"},
    {"write-error-frees-mapped-blocks", "a failed write frees its new blocks but leaves them mapped"},
};
static const char *const invariants[] = {"locks-released", "no-double-allocation", "space-balanced", "data-durable"};

typedef struct toy_file {
  char path[PATH_MAX_LEN];
  int used;
  unsigned long long size;
  int map[MAX_FILE_BLOCKS]; /* device block + 1; 0 = hole */
  /* what fsync made durable */
  unsigned long long dsize;
  int dmap[MAX_FILE_BLOCKS];
  int dexists;
  /* the inode lock: holder, or locked == 0 */
  int locked;
  char holder[PATH_MAX_LEN];
  int holder_op;
  char holder_op_name[32];
} toy_file;

typedef struct toy {
  const fl_ctx *ctx;
  int keeps_lock, frees_mapped;
  int nblocks;
  unsigned char *used;   /* per device block */
  unsigned char *device; /* nblocks * BLOCK */
  toy_file files[MAX_FILES];
  char setup_files[MAX_FILES][PATH_MAX_LEN];
  int n_setup_files;
} toy;

/* --- tiny JSON readers for the flat objects faultline sends --------------------------------- */

static const char *find_key(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  return p ? p + strlen(pat) : NULL;
}

static int get_u64(const char *json, const char *key, unsigned long long *out) {
  const char *p = find_key(json, key);
  if (!p) return 0;
  *out = strtoull(p, NULL, 10);
  return 1;
}

/* Copies a JSON string starting at p (which points at the opening quote). */
static const char *read_string(const char *p, char *out, size_t len) {
  if (*p != '"') return NULL;
  size_t n = 0;
  for (p++; *p && *p != '"'; p++) {
    if (*p == '\\' && p[1]) p++;
    if (n + 1 < len) out[n++] = *p;
  }
  out[n] = 0;
  return *p == '"' ? p + 1 : NULL;
}

/* --- the engine ------------------------------------------------------------------------------ */

static toy_file *lookup(toy *t, const char *path) {
  for (int i = 0; i < MAX_FILES; i++)
    if (t->files[i].used && strcmp(t->files[i].path, path) == 0) return &t->files[i];
  return NULL;
}

static toy_file *create_file(toy *t, const char *path) {
  toy_file *f = lookup(t, path);
  if (f) return f;
  for (int i = 0; i < MAX_FILES; i++) {
    if (!t->files[i].used) {
      f = &t->files[i];
      memset(f, 0, sizeof *f);
      f->used = 1;
      f->dexists = 1; /* directory operations are synchronous here */
      snprintf(f->path, sizeof f->path, "%s", path);
      return f;
    }
  }
  return NULL;
}

static int check_setup(const char *setup, char *err, size_t len) {
  unsigned long long blocks = 0;
  if (strcmp(setup, "null") != 0 && get_u64(setup, "blocks", &blocks) && (blocks < 8 || blocks > 4096)) {
    snprintf(err, len, "blocks: expected 8 to 4096, found %llu", blocks);
    return 1;
  }
  return 0;
}

static void *create(const fl_ctx *ctx, const char *setup, const char *const *on, int n_on, char *err, size_t len) {
  if (check_setup(setup, err, len)) return NULL;
  toy *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ctx = ctx;
  for (int i = 0; i < n_on; i++) {
    if (strcmp(on[i], bugs[0].name) == 0) t->keeps_lock = 1;
    if (strcmp(on[i], bugs[1].name) == 0) t->frees_mapped = 1;
  }
  unsigned long long blocks = 64;
  if (strcmp(setup, "null") != 0) get_u64(setup, "blocks", &blocks);
  t->nblocks = (int)blocks;
  t->used = calloc((size_t)t->nblocks, 1);
  t->device = calloc((size_t)t->nblocks, BLOCK);
  const char *p = strcmp(setup, "null") != 0 ? find_key(setup, "files") : NULL;
  if (p && *p == '[') {
    for (p++; *p == '"' && t->n_setup_files < MAX_FILES; t->n_setup_files++) {
      p = read_string(p, t->setup_files[t->n_setup_files], PATH_MAX_LEN);
      if (!p) break;
      if (*p == ',') p++;
    }
  }
  if (!t->used || !t->device) {
    snprintf(err, len, "out of memory for %d blocks", t->nblocks);
    free(t->used);
    free(t->device);
    free(t);
    return NULL;
  }
  return t;
}

static int setup(void *e) {
  toy *t = e;
  for (int i = 0; i < t->n_setup_files; i++)
    if (!create_file(t, t->setup_files[i])) return ENOSPC;
  return 0;
}

static int alloc_block(toy *t) {
  for (int b = 0; b < t->nblocks; b++) {
    if (!t->used[b]) {
      t->used[b] = 1;
      return b;
    }
  }
  return -1;
}

static void unlock(toy *t, toy_file *f) {
  (void)t;
  f->locked = 0;
}

static int do_write(toy *t, toy_file *f, const char *path, unsigned long long off, unsigned long long len,
                    unsigned generation, int pattern) {
  if (off + len > (unsigned long long)MAX_FILE_BLOCKS * BLOCK) return EFBIG;
  f->locked = 1;
  snprintf(f->holder, sizeof f->holder, "%s", t->ctx->task(t->ctx->harness));
  f->holder_op = t->ctx->op_index(t->ctx->harness);
  snprintf(f->holder_op_name, sizeof f->holder_op_name, "%s", t->ctx->op_name(t->ctx->harness));
  int fresh[MAX_FILE_BLOCKS];
  int n_fresh = 0;
  int err = 0;
  unsigned long long first = off / BLOCK, last = (off + len + BLOCK - 1) / BLOCK;
  /* Allocate every missing block first, then write: an allocation failure writes nothing. */
  for (unsigned long long b = first; b < last && !err; b++) {
    if (f->map[b]) continue;
    if ((err = fl_fail(t->ctx, P_ALLOC))) break;
    int d = alloc_block(t);
    if (d < 0) {
      err = ENOSPC;
      break;
    }
    f->map[b] = d + 1;
    fresh[n_fresh++] = (int)b;
    memset(t->device + (size_t)d * BLOCK, 0, BLOCK);
  }
  for (unsigned long long b = first; b < last && !err; b++) {
    if ((err = fl_fail(t->ctx, P_IO_WRITE))) break;
    unsigned long long s = b * BLOCK > off ? b * BLOCK : off;
    unsigned long long end = (b + 1) * BLOCK < off + len ? (b + 1) * BLOCK : off + len;
    /* The harness's stamped bytes (faultline.h): each unit names the file, its offset, the write. */
    fl_stamp_fill(t->device + (size_t)(f->map[b] - 1) * BLOCK + (s - b * BLOCK), end - s, s, fl_stamp_file_id(path),
                  generation, (uint8_t)pattern);
  }
  if (err) {
    /* Undo the allocations; bug: the blocks go back to the free map but stay mapped. */
    for (int i = 0; i < n_fresh; i++) {
      t->used[f->map[fresh[i]] - 1] = 0;
      if (!t->frees_mapped) f->map[fresh[i]] = 0;
    }
    if (!t->keeps_lock) unlock(t, f);
    return err;
  }
  if (off + len > f->size) f->size = off + len;
  unlock(t, f);
  return 0;
}

static int perform(void *e, const char *op, fl_buf *out) {
  toy *t = e;
  char kind[16] = "", path[PATH_MAX_LEN] = "";
  const char *p = find_key(op, "kind");
  if (p) read_string(p, kind, sizeof kind);
  p = find_key(op, "path");
  if (p) read_string(p, path, sizeof path);
  unsigned long long off = 0, len = 0, pattern = 0xA5, generation = 0;
  get_u64(op, "offset", &off);
  get_u64(op, "length", &len);
  get_u64(op, "pattern", &pattern);
  get_u64(op, "generation", &generation);
  if (strcmp(kind, "create") == 0) return create_file(t, path) ? 0 : ENOSPC;
  toy_file *f = lookup(t, path);
  if (!f) return ENOENT;
  if (f->locked) return EDEADLK; /* a leaked lock: the next operation would wait forever */
  if (strcmp(kind, "write") == 0) return do_write(t, f, path, off, len, (unsigned)generation, (int)pattern);
  if (strcmp(kind, "fsync") == 0) {
    f->dsize = f->size;
    memcpy(f->dmap, f->map, sizeof f->map);
    return 0;
  }
  if (strcmp(kind, "unlink") == 0) {
    for (int b = 0; b < MAX_FILE_BLOCKS; b++)
      if (f->map[b]) t->used[f->map[b] - 1] = 0;
    f->used = 0;
    return 0;
  }
  if (strcmp(kind, "read") == 0) {
    out->len = (size_t)f->size;
    out->data = calloc(out->len ? out->len : 1, 1);
    if (!out->data) return ENOMEM;
    for (unsigned long long b = 0; b * BLOCK < f->size; b++) {
      if (!f->map[b]) continue;
      size_t n = f->size - b * BLOCK < BLOCK ? (size_t)(f->size - b * BLOCK) : BLOCK;
      memcpy(out->data + b * BLOCK, t->device + (size_t)(f->map[b] - 1) * BLOCK, n);
    }
    return 0;
  }
  return EINVAL;
}

/* Appends to a growing string. */
typedef struct sbuf {
  char *s;
  size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
  for (int tries = 0; tries < 2; tries++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *s = realloc(b->s, cap);
    if (!s) return;
    b->s = s;
    b->cap = cap;
  }
}

static char *snapshot(void *e) {
  toy *t = e;
  sbuf b = {0};
  put(&b, "{\"pageSize\":%d,\"files\":[", BLOCK);
  const char *sep = "";
  for (int i = 0; i < MAX_FILES; i++) {
    toy_file *f = &t->files[i];
    if (!f->used) continue;
    put(&b, "%s{\"path\":\"%s\",\"size\":%llu}", sep, f->path, f->size);
    sep = ",";
  }
  put(&b, "],\"locks\":[");
  sep = "";
  for (int i = 0; i < MAX_FILES; i++) {
    toy_file *f = &t->files[i];
    if (!f->used || !f->locked) continue;
    put(&b,
        "%s{\"kind\":\"inode\",\"object\":\"%s\",\"mode\":\"exclusive\",\"holders\":[{\"task\":\"%s\",\"op\":%d,"
        "\"opName\":\"%s\"}],\"waiters\":[]}",
        sep, f->path, f->holder, f->holder_op, f->holder_op_name);
    sep = ",";
  }
  put(&b, "],\"extents\":[");
  sep = "";
  for (int i = 0; i < MAX_FILES; i++) {
    toy_file *f = &t->files[i];
    if (!f->used) continue;
    for (int s = 0; s < MAX_FILE_BLOCKS;) {
      if (!f->map[s]) {
        s++;
        continue;
      }
      int e2 = s + 1;
      while (e2 < MAX_FILE_BLOCKS && f->map[e2] == f->map[e2 - 1] + 1) e2++;
      put(&b,
          "%s{\"source\":\"tree\",\"file\":\"%s\",\"range\":{\"start\":%d,\"end\":%d},\"disk\":{\"start\":%d,"
          "\"count\":%d},\"state\":\"written\"}",
          sep, f->path, s * BLOCK, e2 * BLOCK, f->map[s] - 1, e2 - s);
      sep = ",";
      s = e2;
    }
  }
  int used = 0;
  for (int d = 0; d < t->nblocks; d++) used += t->used[d];
  put(&b,
      "],\"space\":[{\"name\":\"data\",\"total\":%d,\"used\":%d,\"reserved\":0,\"mayUse\":0,\"free\":%d,"
      "\"backsData\":false}],\"free\":[",
      t->nblocks * BLOCK, used * BLOCK, (t->nblocks - used) * BLOCK);
  sep = "";
  for (int d = 0; d < t->nblocks;) {
    if (t->used[d]) {
      d++;
      continue;
    }
    int e2 = d + 1;
    while (e2 < t->nblocks && !t->used[e2]) e2++;
    put(&b, "%s{\"start\":%d,\"count\":%d}", sep, d, e2 - d);
    sep = ",";
    d = e2;
  }
  put(&b, "]}");
  return b.s;
}

static int recover(void *e) {
  toy *t = e;
  memset(t->used, 0, (size_t)t->nblocks);
  for (int i = 0; i < MAX_FILES; i++) {
    toy_file *f = &t->files[i];
    if (!f->used) continue;
    f->size = f->dsize;
    memcpy(f->map, f->dmap, sizeof f->map);
    f->locked = 0;
    for (int b = 0; b < MAX_FILE_BLOCKS; b++)
      if (f->map[b]) t->used[f->map[b] - 1] = 1;
  }
  return 0;
}

static void destroy(void *e) {
  toy *t = e;
  free(t->used);
  free(t->device);
  free(t);
}

static const fl_engine engine = {
    .abi_version = FL_ABI_VERSION,
    .name = "toy-c",
    .about = "a block store in C: the example engine for the C ABI",
    .points = points,
    .n_points = N_POINTS,
    .operations = operations,
    .n_operations = 5,
    .bugs = bugs,
    .n_bugs = 2,
    .invariants = invariants,
    .n_invariants = 4,
    .check_setup = check_setup,
    .create = create,
    .setup = setup,
    .perform = perform,
    .snapshot = snapshot,
    .recover = recover,
    .destroy = destroy,
};

const fl_engine *faultline_engine(void) { return &engine; }
