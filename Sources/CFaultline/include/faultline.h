/*
 * faultline.h: the C ABI for Faultline engines written in C.
 *
 * An engine publishes an `fl_engine`: its name, its fault-point catalog, the operations and bug
 * switches it has, and a vtable (create, setup, perform, snapshot, recover, destroy). A built-in
 * engine is linked into faultline; a third-party one is a shared object loaded with
 * `--engine-plugin PATH.so` that exports `faultline_engine` (see FL_ENGINE_ENTRY).
 *
 * At each fault point the engine calls `fl_point(ctx, POINT)` (or `fl_fail` for points that
 * only fail). When nothing is armed there, that is one load and a branch; otherwise the harness
 * counts the hit, records it in the trace, and says what to do: pass, fail with an errno, a
 * short operation, or a transaction restart.
 *
 * C engines are called from one thread at a time, one operation at a time: a C operation is
 * one step of Faultline's scheduler (tasks interleave between operations, not inside them).
 *
 * Snapshots are JSON in the common model (what `faultline` diffs and judges). Every top-level key
 * is optional; in records only `range`, `disk` and `pendingError` are. A key not shown here, at
 * the top level or in a record, is an error (state the harness would not look at):
 *   {"pageSize": 4096,
 *    "files":   [{"path": "/a", "size": 8192}],
 *    "locks":   [{"kind": "inode", "object": "/a", "mode": "exclusive",
 *                 "holders": [{"task": "writer", "op": 2, "opName": "write"}], "waiters": []}],
 *    "extents": [{"source": "tree", "file": "/a", "range": {"start": 0, "end": 8192},
 *                 "disk": {"start": 40, "count": 2}, "state": "written"}],
 *    "space":   [{"name": "data", "total": 1048576, "used": 8192, "reserved": 0, "mayUse": 0,
 *                 "free": 1040384, "backsData": false}],
 *    "free":    [{"start": 42, "count": 214}],
 *    "assertions": [{"rule": "...", "detail": "..."}],
 *    "unreadable": ["inode 14 (/a): ext2fs_read_inode failed: Attempt to read block from ..."],
 *    "pendingWork": ["..."], "copyOnWrite": false}
 * Lock kinds: page, range, inode, rwsem, mutex, handle. Extent sources: tree, cache, delalloc,
 * ordered. `unreadable` names each thing the engine could not read for this snapshot, and why:
 * nothing may be left out silently, and a scenario whose state was not fully read never passes.
 * An engine that accounts for every device block also sends "deviceBlocks": N, "pinned":
 * [{"range": {"start": 0, "count": 16}, "why": "superblock"}] and "filler": [{"start": .., "count":
 * ..}]: then every block must be exactly one of free, mapped (tree or ordered extent), pinned or
 * filler (space-balanced). A space record may carry "underflows": ["may-use: released ..."].
 */
#ifndef FAULTLINE_H
#define FAULTLINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change; faultline refuses an engine built against another.
 * 2: points declare the actions they honour (fl_point_def.actions); fl_fail reports a decision it
 *    did not carry out (fl_ctx.ignored); write operations carry a "generation" to stamp data with. */
#define FL_ABI_VERSION 2u

/* The symbol a plugin exports: `const fl_engine *faultline_engine(void);` */
#define FL_ENGINE_ENTRY "faultline_engine"

/* What kind of place a fault point is (decides the actions a sweep tries there). */
enum fl_point_kind {
  FL_KIND_ALLOCATOR = 0,
  FL_KIND_RESERVE = 1,
  FL_KIND_TRANSACTION = 2,
  FL_KIND_IO = 3,
  FL_KIND_COPY = 4,
  FL_KIND_WORKER = 5,
  FL_KIND_SYNC = 6,
};

/* What a hit does. */
enum fl_action {
  FL_PASS = 0,
  FL_FAIL = 1,    /* return `err` (a positive errno) */
  FL_SHORT = 2,   /* do at most `max_bytes` (0: the point's own idea of short) */
  FL_RESTART = 3, /* restart the transaction */
};

/* The actions a point honours, as a mask (fl_point_def.actions). A sweep places only these, and
 * a plan that names another is refused: a placement that does nothing would count as tested. */
enum fl_action_mask {
  FL_ACTS_FAIL = 1 << 0,    /* fl_fail and fl_point return the errno */
  FL_ACTS_SHORT = 1 << 1,   /* the engine does at most max_bytes (allocators, copies) */
  FL_ACTS_RESTART = 1 << 2, /* the engine restarts its transaction */
};

typedef struct fl_point_def {
  const char *name;  /* dotted, as plans name it: "alloc.data" */
  int kind;          /* enum fl_point_kind */
  const int *errnos; /* the errnos `fail` may inject here: what the real path can return */
  int n_errnos;
  const char *about; /* one line: where this is */
  unsigned actions;  /* enum fl_action_mask; 0 means FL_ACTS_FAIL (what fl_fail honours) */
} fl_point_def;

typedef struct fl_bug_def {
  const char *name;
  const char *about;
} fl_bug_def;

/* An invariant of the engine's own. It is judged from the snapshot's `assertions` whose `rule`
 * is its name (checked after every failed operation and at rest), and from `verify` findings. */
typedef struct fl_invariant_def {
  const char *name;
  const char *checks;         /* what holds when it passes */
  const char *does_not_check; /* what it does not look at */
  int expected;               /* non-zero: a violation is expected behaviour, reported apart, not a bug */
} fl_invariant_def;

typedef struct fl_decision {
  int action; /* enum fl_action */
  int err;
  uint64_t max_bytes;
} fl_decision;

/* What the harness hands an engine instance. The engine keeps the pointer for its lifetime. */
typedef struct fl_ctx {
  void *harness;
  /* Counts and records a hit of `point` and decides it (what fl_point calls when armed). */
  fl_decision (*hit)(void *harness, int point);
  /* The running task, its 1-based operation number and the operation's name: a lock holder. */
  const char *(*task)(void *harness);
  int (*op_index)(void *harness);
  const char *(*op_name)(void *harness);
  /* Appends a line to the scenario's trace. */
  void (*trace)(void *harness, const char *line);
  /* The engine did not carry out the decision `hit` returned for `point` (fl_fail got a short or
   * a restart): the harness counts that hit as not fired. */
  void (*ignored)(void *harness, int point);
  int n_points;
  /* armed[i] != 0: point i goes through the harness (a fault may fire there, or hits are being
   * recorded). Set by the harness only, and only while it counts hits: every pass through an
   * armed point is a hit it counts, so an engine that counts its armed passes (from the end of
   * setup) knows each hit's number, io.write#7, as the trace has it. */
  volatile uint8_t armed[];
} fl_ctx;

/* A pass through fault point `point` (its index in the engine's catalog). */
static inline fl_decision fl_point(const fl_ctx *ctx, int point) {
  if (__builtin_expect(ctx->armed[point] == 0, 1)) {
    fl_decision pass = {FL_PASS, 0, 0};
    return pass;
  }
  return ctx->hit(ctx->harness, point);
}

/* A pass through a point that can only fail: 0 to go on, else the errno to return. A decision
 * it cannot carry out (short, restart) is reported as ignored, so it never counts as tested. */
static inline int fl_fail(const fl_ctx *ctx, int point) {
  if (__builtin_expect(ctx->armed[point] == 0, 1)) return 0;
  fl_decision d = ctx->hit(ctx->harness, point);
  if (d.action == FL_FAIL) return d.err;
  if (d.action != FL_PASS && ctx->ignored) ctx->ignored(ctx->harness, point);
  return 0;
}

/* The bytes Faultline writes: every byte identifies the file, its offset and the write that put it
 * there, so a block at the wrong offset or from another write is caught. The file is cut into
 * 16-byte units aligned on file offsets; unit bytes 0-7 hold the unit's file offset (little-endian
 * u64), 8-11 the file id (FNV-1a 32 of the path's bytes), 12-14 the write's generation (low 24
 * bits, LE), 15 the plan's pattern byte. A write operation's JSON carries "generation" and
 * "pattern"; an engine stores fl_stamp_fill's bytes, as the harness's data oracle expects. */
static inline uint32_t fl_stamp_file_id(const char *path) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return h;
}

static inline uint8_t fl_stamp_byte(uint64_t offset, uint32_t file_id, uint32_t generation, uint8_t pattern) {
  unsigned k = (unsigned)(offset & 15);
  uint64_t unit = offset - k;
  if (k < 8) return (uint8_t)(unit >> (8 * k));
  if (k < 12) return (uint8_t)(file_id >> (8 * (k - 8)));
  if (k < 15) return (uint8_t)(generation >> (8 * (k - 12)));
  return pattern;
}

static inline void fl_stamp_fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t file_id, uint32_t generation,
                                 uint8_t pattern) {
  for (size_t i = 0; i < len; i++) buf[i] = fl_stamp_byte(offset + i, file_id, generation, pattern);
}

/* The same bytes as fl_stamp_fill, a 16-byte unit at a time (for engines that stamp megabytes):
 * a unit's bytes 8-15 are the same in every unit, its bytes 0-7 its offset. Any offset and
 * length, aligned or not. */
static inline void fl_stamp_fill_units(uint8_t *buf, size_t len, uint64_t offset, uint32_t file_id,
                                       uint32_t generation, uint8_t pattern) {
  uint8_t unit[16];
  for (int i = 0; i < 4; i++) unit[8 + i] = (uint8_t)(file_id >> (8 * i));
  for (int i = 0; i < 3; i++) unit[12 + i] = (uint8_t)(generation >> (8 * i));
  unit[15] = pattern;
  size_t done = 0;
  while (done < len) {
    uint64_t at = offset + done, start = at & ~(uint64_t)15;
    for (int i = 0; i < 8; i++) unit[i] = (uint8_t)(start >> (8 * i));
    size_t k = (size_t)(at - start), n = 16 - k < len - done ? 16 - k : len - done;
    __builtin_memcpy(buf + done, unit + k, n);
    done += n;
  }
}

/* Bytes an operation hands back (a read): malloc'd by the engine, freed by the harness. */
typedef struct fl_buf {
  uint8_t *data;
  size_t len;
} fl_buf;

typedef struct fl_engine {
  uint32_t abi_version; /* FL_ABI_VERSION */
  const char *name;     /* "ext2fs" */
  const char *about;
  const fl_point_def *points;
  int n_points;
  const char *const *operations; /* the plan operations it supports: "write", "punch" … */
  int n_operations;
  const fl_bug_def *bugs;
  int n_bugs;
  /* The shared invariants its snapshots support ("locks-released", "space-balanced",
   * "no-double-allocation", "data-durable" …); plans with `invariants: all` get these. */
  const char *const *invariants;
  int n_invariants;
  const fl_invariant_def *own_invariants;
  int n_own_invariants;
  /* Checks a plan's setup section (JSON; "null" when absent) without building anything.
   * Returns 0, or non-zero with a message in err. May be NULL: every setup is accepted. */
  int (*check_setup)(const char *setup_json, char *err, size_t err_len);
  /* One instance per scenario. Returns NULL with a message in err. */
  void *(*create)(const fl_ctx *ctx, const char *setup_json, const char *const *bugs, int n_bugs, char *err,
                  size_t err_len);
  /* Builds what setup describes; no fault fires here. 0 or an errno. */
  int (*setup)(void *engine);
  /* One operation, as JSON: {"kind": "write", "path": "/a", "offset": 0, "length": 4096,
   * "pattern": 165} (keys as in plans). A write or append with "generation": N writes the
   * stamped bytes fl_stamp_fill gives (the file id of its "path"); without one, `pattern` in
   * every byte. 0 or a positive errno. A read fills *out. */
  int (*perform)(void *engine, const char *op_json, fl_buf *out);
  /* The state now (see above), malloc'd and NUL-terminated; the harness frees it. Taken at fixed
   * points of a scenario (after setup, after an operation a fault hit, at rest); fault points
   * pass unseen inside it. It may warm the engine's caches (which changes what later operations
   * read, and so their hit numbers), so it must do the same thing each time at the same point.
   * The harness parses equal bytes once (it keeps the last few parsed), so writing the same state
   * as the same bytes (records in a fixed order, no clocks or addresses) makes repeats cheap. */
  char *(*snapshot)(void *engine);
  /* Crash and come back: drop in-memory state, mount again from what is durable. 0 or errno. */
  int (*recover)(void *engine);
  void (*destroy)(void *engine);
  /* Checks run with the engine stopped, after the plan (close the filesystem, fsck the image).
   * Returns NULL when all is well, else a malloc'd JSON array of findings:
   *   [{"invariant": "image-consistent", "message": "...", "evidence": ["...", "..."]}]
   * each naming one of its own invariants. May be NULL (nothing to verify). */
  char *(*verify)(void *engine);
} fl_engine;

typedef const fl_engine *(*fl_engine_entry_fn)(void);

/* For the harness (and tests): a context for `n_points` points, every point disarmed. */
fl_ctx *fl_ctx_new(int n_points);
void fl_ctx_free(fl_ctx *ctx);
void fl_ctx_arm(fl_ctx *ctx, int point, int armed);

#ifdef __cplusplus
}
#endif

#endif
