/* What the ext2fs engine reports: the snapshot in the common model with its in-memory
 * consistency checks, and verify (close the filesystem, then e2fsck -fn on the image). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_ext2fs.h"
#include "fx_explain.h"
#include "fx_internal.h"

enum { MAX_ASSERTIONS = 16, MAX_UNREADABLE = 64 };

/* Names are listed without a fixed cap (the array grows) up to this bound; reaching it is itself
 * reported as unreadable. */
int fx_max_names = FX_MAX_NAMES;

typedef struct checks {
  char lines[MAX_ASSERTIONS][384];
  int n;
} checks;

static void assert_fail(checks *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void assert_fail(checks *c, const char *fmt, ...) {
  if (c->n >= MAX_ASSERTIONS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->lines[c->n++], sizeof c->lines[0], fmt, ap);
  va_end(ap);
}

/* What the snapshot could not read, one line each (the snapshot's "unreadable"): every one is
 * kept or counted, never dropped. */
typedef struct unread {
  char lines[MAX_UNREADABLE][384];
  int n;
  int more; /* beyond MAX_UNREADABLE: counted, said in the last line */
} unread;

static void cannot_read(unread *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cannot_read(unread *u, const char *fmt, ...) {
  if (u->n >= MAX_UNREADABLE) {
    u->more++;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(u->lines[u->n++], sizeof u->lines[0], fmt, ap);
  va_end(ap);
}

void fx_names_free(fx_names *names) {
  free(names->v);
  memset(names, 0, sizeof *names);
}

typedef struct walk {
  fx_names *names;
  char prefix[FX_PATH]; /* the directory being walked (a copy: the array may move as it grows) */
  unread *u;
} walk;

static int walk_entry(ext2_ino_t dir, int entry_kind, struct ext2_dir_entry *dirent, int offset, int blocksize,
                      char *buf, void *priv) {
  (void)entry_kind, (void)offset, (void)blocksize, (void)buf;
  walk *w = priv;
  fx_names *names = w->names;
  int len = ext2fs_dirent_name_len(dirent);
  if ((len == 1 && dirent->name[0] == '.') || (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
    return 0;
  if (names->n >= fx_max_names) {
    names->truncated = 1;
    return DIRENT_ABORT;
  }
  if (names->n == names->cap) {
    int cap = names->cap ? 2 * names->cap : 64;
    fx_name *v = realloc(names->v, (size_t)cap * sizeof *v);
    if (!v) {
      names->oom = 1;
      return DIRENT_ABORT;
    }
    names->v = v;
    names->cap = cap;
  }
  fx_name *x = &names->v[names->n];
  if (snprintf(x->path, sizeof x->path, "%s/%.*s", w->prefix, len, dirent->name) >= (int)sizeof x->path) {
    cannot_read(w->u, "a name in directory %s (inode %u): its path is longer than %d bytes",
                w->prefix[0] ? w->prefix : "/", (unsigned)dir, FX_PATH - 1);
    return 0;
  }
  x->ino = dirent->inode;
  x->unreadable = 0;
  names->n++;
  return 0;
}

/* Every name under the root, breadth first; what cannot be read (a directory, an inode) is said
 * in `u`. */
static void list_names(ext2_filsys fs, fx_names *names, unread *u) {
  walk w = {names, "", u};
  errcode_t rc = ext2fs_dir_iterate2(fs, EXT2_ROOT_INO, 0, NULL, walk_entry, &w);
  if (rc) cannot_read(u, "directory / (inode %u): ext2fs_dir_iterate2 failed: %s", EXT2_ROOT_INO, error_message(rc));
  for (int i = 0; i < names->n; i++) {
    struct ext2_inode inode;
    fx_name *x = &names->v[i];
    if ((rc = ext2fs_read_inode(fs, x->ino, &inode))) {
      x->unreadable = 1;
      cannot_read(u, "inode %u (%s): ext2fs_read_inode failed: %s", (unsigned)x->ino, x->path, error_message(rc));
      continue;
    }
    if (!LINUX_S_ISDIR(inode.i_mode)) continue;
    snprintf(w.prefix, sizeof w.prefix, "%s", x->path);
    ext2_ino_t ino = x->ino;
    if ((rc = ext2fs_dir_iterate2(fs, ino, 0, NULL, walk_entry, &w)))
      cannot_read(u, "directory %s (inode %u): ext2fs_dir_iterate2 failed: %s", w.prefix, (unsigned)ino,
                  error_message(rc));
  }
  if (names->truncated)
    cannot_read(u, "more than %d names: the names after the %dth were not read", fx_max_names, fx_max_names);
  if (names->oom) cannot_read(u, "out of memory listing names: the names after the %dth were not read", names->n);
}

/* A leaf record (data blocks): written in place, thousands of these per snapshot of a
 * fragmented filesystem. `path` is the file's path already as JSON. */
static void put_leaf(fx_buf *b, const char **sep, const fx_buf *path, unsigned long long lblk, unsigned long long len,
                     unsigned long long pblk, int unwritten, unsigned long long bs) {
  char *p = fx_reserve(b, path->len + 200);
  if (!p) return;
  if (**sep) *p++ = ',';
  p = FX_LIT(p, "{\"source\":\"tree\",\"file\":");
  memcpy(p, path->s, path->len);
  p += path->len;
  p = FX_LIT(p, ",\"range\":{\"start\":");
  p = fx_u64(p, lblk * bs);
  p = FX_LIT(p, ",\"end\":");
  p = fx_u64(p, (lblk + len) * bs);
  p = FX_LIT(p, "},\"disk\":{\"start\":");
  p = fx_u64(p, pblk);
  p = FX_LIT(p, ",\"count\":");
  p = fx_u64(p, len);
  if (unwritten) p = FX_LIT(p, "},\"state\":\"unwritten\"}");
  else p = FX_LIT(p, "},\"state\":\"written\"}");
  fx_commit(b, p);
  *sep = ",";
}

/* Checks that `count` blocks from `pblk`, which `path` maps as `what`, lie inside the filesystem
 * and are marked in the block bitmap. */
static void check_mapped(ext2_filsys fs, checks *c, const char *path, blk64_t pblk, blk64_t count, const char *what) {
  blk64_t nblocks = ext2fs_blocks_count(fs->super);
  if (pblk < fs->super->s_first_data_block || pblk + count > nblocks) {
    assert_fail(c, "%s maps block %llu (%s), outside the filesystem's %llu blocks", path, (unsigned long long)pblk,
                what, (unsigned long long)nblocks);
    return;
  }
  for (blk64_t k = 0; k < count; k++) {
    if (!ext2fs_test_block_bitmap2(fs->block_map, pblk + k)) {
      assert_fail(c, "%s maps block %llu (%s), which the block bitmap has free", path, (unsigned long long)(pblk + k),
                  what);
      break;
    }
  }
}

/* Checks that i_blocks counts the `counted` blocks the file maps (and its xattr block). */
static void check_i_blocks(ext2_filsys fs, checks *c, const char *path, struct ext2_inode *inode,
                           unsigned long long counted, const char *mapper) {
  blk64_t acl = ext2fs_file_acl_block(fs, inode);
  unsigned long long expect = (counted + (acl ? 1 : 0)) * (fs->blocksize / 512);
  unsigned long long have = ext2fs_get_stat_i_blocks(fs, inode);
  if (expect != have)
    assert_fail(c, "%s: i_blocks says %llu sectors, its %s%s maps %llu", path, have, mapper,
                acl ? " and xattr block" : "", expect);
}

/* The extent tree of an extent-mapped file as extent records (leaves and index nodes), checked. */
static void extent_records(ext2_filsys fs, fx_buf *b, const char **sep, const fx_name *x, const fx_buf *path,
                           struct ext2_inode *inode, checks *c, unread *u) {
  ext2_extent_handle_t h;
  errcode_t rc = ext2fs_extent_open2(fs, x->ino, inode, &h);
  if (rc) {
    cannot_read(u, "inode %u (%s): its extent tree: ext2fs_extent_open2 failed: %s", (unsigned)x->ino, x->path,
                error_message(rc));
    return;
  }
  unsigned long long bs = fs->blocksize, counted = 0;
  struct ext2fs_extent ex;
  rc = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex);
  int guard = 0, records = 0;
  for (; !rc && guard < 1 << 20; guard++, rc = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &ex)) {
    if (ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT) continue;
    struct ext2_extent_info info;
    ext2fs_extent_get_info(h, &info);
    int leaf = (ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) != 0;
    blk64_t count = leaf ? ex.e_len : 1;
    if (!leaf && info.curr_level == 0 && info.max_depth == 0) continue;
    if (!leaf) {
      /* An index entry: its child node's block. */
      fx_put(b, "%s{\"source\":\"tree\",\"file\":", *sep);
      fx_put_json_string(b, x->path);
      fx_put(b, ",\"range\":{\"start\":%llu,\"end\":%llu},\"disk\":{\"start\":%llu,\"count\":1},"
                "\"state\":\"index node, level %d\"}",
             (unsigned long long)ex.e_lblk * bs, ((unsigned long long)ex.e_lblk + (ex.e_len ? ex.e_len : 1)) * bs,
             (unsigned long long)ex.e_pblk, info.curr_level + 1);
      *sep = ",";
    } else {
      put_leaf(b, sep, path, ex.e_lblk, ex.e_len, ex.e_pblk, (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT) != 0, bs);
    }
    counted += count;
    records++;
    check_mapped(fs, c, x->path, ex.e_pblk, count, leaf ? "data" : "extent tree node");
  }
  ext2fs_extent_free(h);
  /* The walk ends at EXT2_ET_EXTENT_NO_NEXT; anything else left part of the tree unread (and
   * then i_blocks has nothing whole to be checked against). */
  if (rc == EXT2_ET_EXTENT_NO_NEXT) {
    check_i_blocks(fs, c, x->path, inode, counted, "extent tree");
  } else if (rc) {
    cannot_read(u, "inode %u (%s): its extent tree after %d records: ext2fs_extent_get failed: %s", (unsigned)x->ino,
                x->path, records, error_message(rc));
    /* No fault is armed while the snapshot reads: the library cannot walk its own tree. */
    if (rc != EXT2_ET_NO_MEMORY)
      assert_fail(c, "%s: its extent tree cannot be walked after %d records: %s", x->path, records,
                  error_message(rc));
  } else {
    cannot_read(u, "inode %u (%s): its extent tree past %d steps was not read", (unsigned)x->ino, x->path, guard);
  }
}

/* A block-mapped (ext2/ext3-style) file, walked with ext2fs_block_iterate3: its data as tree
 * records, one per run contiguous in the file and on disk; its indirect blocks checked and
 * counted, not reported (they map no file range of their own). */
typedef struct block_walk {
  ext2_filsys fs;
  fx_buf *b;
  const char **sep;
  const fx_buf *path;
  const char *name;
  checks *c;
  unsigned long long counted;
  unsigned long long lblk, pblk, len; /* the run being gathered */
} block_walk;

static void flush_run(block_walk *w) {
  if (w->len) put_leaf(w->b, w->sep, w->path, w->lblk, w->len, w->pblk, 0, w->fs->blocksize);
  w->len = 0;
}

static int walk_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk, int ref_offset,
                      void *priv) {
  (void)ref_offset;
  block_walk *w = priv;
  w->counted++;
  /* libext2fs keeps no copy of indirect blocks: what they map is what the disk holds, which is
   * what the library's next read of them will see. Say so. */
  char what[96];
  if (ref_blk)
    snprintf(what, sizeof what, "%s in indirect block %llu as the disk holds it",
             blockcnt < 0 ? "indirect block" : "data", (unsigned long long)ref_blk);
  else
    snprintf(what, sizeof what, "%s", blockcnt < 0 ? "indirect block" : "data");
  check_mapped(fs, w->c, w->name, *blocknr, 1, what);
  if (blockcnt < 0) return 0;
  unsigned long long l = (unsigned long long)blockcnt;
  if (w->len && l == w->lblk + w->len && *blocknr == w->pblk + w->len) {
    w->len++;
    return 0;
  }
  flush_run(w);
  w->lblk = l;
  w->pblk = *blocknr;
  w->len = 1;
  return 0;
}

static void block_map_records(ext2_filsys fs, fx_buf *b, const char **sep, const fx_name *x, const fx_buf *path,
                              struct ext2_inode *inode, checks *c, unread *u) {
  block_walk w = {fs, b, sep, path, x->path, c, 0, 0, 0, 0};
  errcode_t rc = ext2fs_block_iterate3(fs, x->ino, BLOCK_FLAG_READ_ONLY, NULL, walk_block, &w);
  flush_run(&w);
  if (rc) {
    cannot_read(u, "inode %u (%s): its block map after %llu blocks: ext2fs_block_iterate3 failed: %s",
                (unsigned)x->ino, x->path, w.counted, error_message(rc));
    if (rc != EXT2_ET_NO_MEMORY) assert_fail(c, "%s: its block map cannot be walked: %s", x->path, error_message(rc));
  } else {
    check_i_blocks(fs, c, x->path, inode, w.counted, "block map");
  }
}

/* The blocks `x` maps, as extent records; checks they are marked in the bitmap and that i_blocks
 * counts them. */
static void extents(fx_engine *e, fx_buf *b, const char **sep, fx_name *x, checks *c, unread *u) {
  ext2_filsys fs = e->fs;
  struct ext2_inode inode;
  errcode_t rc = ext2fs_read_inode(fs, x->ino, &inode);
  if (rc) {
    if (!x->unreadable)
      cannot_read(u, "inode %u (%s): ext2fs_read_inode failed: %s", (unsigned)x->ino, x->path, error_message(rc));
    x->unreadable = 1;
    return;
  }
  int by_extents = (inode.i_flags & EXT4_EXTENTS_FL) != 0;
  /* Fast symlinks and inline data keep no blocks. */
  if (!by_extents && !ext2fs_inode_has_valid_blocks2(fs, &inode)) return;
  fx_buf path = {0}; /* the path as JSON, once for all its records */
  fx_put_json_string(&path, x->path);
  if (path.failed || !path.s) {
    b->failed = 1; /* out of memory: the snapshot as a whole is not made */
    free(path.s);
    return;
  }
  if (by_extents) extent_records(fs, b, sep, x, &path, &inode, c, u);
  else block_map_records(fs, b, sep, x, &path, &inode, c, u);
  free(path.s);
}

/* A held resource as a lock record. */
static void put_handle(fx_buf *b, const char **sep, const char *object, const char *task, int op,
                       const char *op_name) {
  fx_put(b, "%s{\"kind\":\"handle\",\"object\":", *sep);
  fx_put_json_string(b, object);
  fx_put(b, ",\"mode\":\"exclusive\",\"holders\":[{\"task\":");
  fx_put_json_string(b, task);
  fx_put(b, ",\"op\":%d,\"opName\":", op);
  fx_put_json_string(b, op_name);
  fx_put(b, "}],\"waiters\":[]}");
  *sep = ",";
}

static char *describe(fx_engine *e) {
  fx_buf b = {0};
  ext2_filsys fs = e->fs;
  /* Sized as this thread's last snapshot was, so the buffer is not regrown (and copied) a dozen times. */
  static __thread size_t last_len;
  fx_reserve(&b, last_len + 4096);
  fx_names names = {0};
  unread *u = calloc(1, sizeof *u); /* 24 KiB: on the heap */
  if (!u) {
    free(b.s);
    return NULL;
  }
  checks c = {.n = 0};
  list_names(fs, &names, u);
  int n = names.n;
  fx_name *entries = names.v;
  fx_put(&b, "{\"pageSize\":%u,\"files\":[", fs->blocksize);
  const char *sep = "";
  for (int i = 0; i < n; i++) {
    struct ext2_inode inode;
    errcode_t rc = ext2fs_read_inode(fs, entries[i].ino, &inode);
    if (rc) {
      if (!entries[i].unreadable)
        cannot_read(u, "inode %u (%s): ext2fs_read_inode failed: %s", (unsigned)entries[i].ino, entries[i].path,
                    error_message(rc));
      entries[i].unreadable = 1;
      continue;
    }
    fx_put(&b, "%s{\"path\":", sep);
    fx_put_json_string(&b, entries[i].path);
    fx_put(&b, ",\"size\":%llu}", (unsigned long long)EXT2_I_SIZE(&inode));
    sep = ",";
  }
  fx_put(&b, "],\"locks\":[");
  sep = "";
  for (int i = 0; i < FX_MAX_HANDLES; i++) {
    fx_handle *h = &e->handles[i];
    if (h->open) put_handle(&b, &sep, h->what, h->task, h->op, h->op_name);
  }
  /* Extent handles libext2fs opened during an operation and never freed (fx_handles.c). */
  for (int i = 0; i < FX_MAX_EXTENT_HANDLES; i++) {
    fx_extent_handle *x = &e->extent_handles[i];
    if (!x->handle) continue;
    char object[FX_PATH + 32];
    snprintf(object, sizeof object, "extent handle of inode %u", (unsigned)x->ino);
    for (int k = 0; k < n; k++) {
      if (entries[k].ino == x->ino) {
        snprintf(object, sizeof object, "extent handle %s", entries[k].path);
        break;
      }
    }
    put_handle(&b, &sep, object, x->task, x->op, x->op_name);
  }
  if (e->extent_handles_untracked)
    assert_fail(&c, "%d more extent handles open than the engine tracks (%d)", e->extent_handles_untracked,
                FX_MAX_EXTENT_HANDLES);
  fx_put(&b, "],\"extents\":[");
  sep = "";
  for (int i = 0; i < n; i++) {
    int seen = 0; /* a hard link: the tree once, under its first name */
    for (int j = 0; j < i && !seen; j++) seen = entries[j].ino == entries[i].ino;
    if (!seen) extents(e, &b, &sep, &entries[i], &c, u);
  }
  /* Free space as the bitmap, the group descriptors and the superblock each count it. */
  blk64_t total = ext2fs_blocks_count(fs->super), bitmap_free = 0, groups_free = 0;
  fx_put(&b, "],\"free\":[");
  sep = "";
  blk64_t blk = fs->super->s_first_data_block;
  for (blk64_t guard = 0; blk < total && guard < total; guard++) {
    /* The next free run [blk, end), by the bitmap's own word-at-a-time searches. */
    if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, blk, total - 1, &blk)) break;
    blk64_t end;
    if (ext2fs_find_first_set_block_bitmap2(fs->block_map, blk, total - 1, &end)) end = total;
    char *p = fx_reserve(&b, 64);
    if (p) {
      if (*sep) *p++ = ',';
      p = FX_LIT(p, "{\"start\":");
      p = fx_u64(p, (unsigned long long)blk);
      p = FX_LIT(p, ",\"count\":");
      p = fx_u64(p, (unsigned long long)(end - blk));
      *p++ = '}';
      fx_commit(&b, p);
    }
    sep = ",";
    bitmap_free += end - blk;
    blk = end;
  }
  for (dgrp_t g = 0; g < fs->group_desc_count; g++) groups_free += ext2fs_bg_free_blocks_count(fs, g);
  blk64_t super_free = ext2fs_free_blocks_count(fs->super);
  if (bitmap_free != groups_free || groups_free != super_free)
    assert_fail(&c, "free blocks: the bitmap counts %llu, the group descriptors %llu, the superblock %llu",
                (unsigned long long)bitmap_free, (unsigned long long)groups_free, (unsigned long long)super_free);
  fx_put(&b, "],\"space\":[");
  const char *space_names[] = {"blocks (bitmap)", "blocks (group descriptors)", "blocks (superblock)"};
  blk64_t frees[] = {bitmap_free, groups_free, super_free};
  for (int i = 0; i < 3; i++) {
    unsigned long long t = total * fs->blocksize, f = frees[i] * fs->blocksize;
    fx_put(&b, "%s{\"name\":\"%s\",\"total\":%llu,\"used\":%llu,\"reserved\":0,\"mayUse\":0,\"free\":%llu,"
               "\"backsData\":false}",
           i ? "," : "", space_names[i], t, f <= t ? t - f : 0, f);
  }
  fx_put(&b, "],\"assertions\":[");
  for (int i = 0; i < c.n; i++) {
    fx_put(&b, "%s{\"rule\":\"in-memory-consistent\",\"detail\":", i ? "," : "");
    fx_put_json_string(&b, c.lines[i]);
    fx_put(&b, "}");
  }
  fx_put(&b, "]");
  /* Only when something could not be read: the common snapshot stays the same bytes. */
  if (u->n) {
    fx_put(&b, ",\"unreadable\":[");
    for (int i = 0; i < u->n; i++) {
      char line[sizeof u->lines[0] + 64];
      if (i == u->n - 1 && u->more)
        snprintf(line, sizeof line, "%s (and %d more things that could not be read)", u->lines[i], u->more);
      else
        snprintf(line, sizeof line, "%s", u->lines[i]);
      fx_put(&b, "%s", i ? "," : "");
      fx_put_json_string(&b, line);
    }
    fx_put(&b, "]");
  }
  fx_put(&b, "}");
  fx_names_free(&names);
  free(u);
  if (b.failed) { /* out of memory somewhere: records would be missing, so no snapshot at all */
    free(b.s);
    return NULL;
  }
  last_len = b.len;
  return b.s;
}

char *fx_snapshot(fx_engine *e) {
  if (!e->fs) return strdup("{\"assertions\":[],\"unreadable\":[\"the filesystem is not open\"]}");
  e->observing = 1; /* its own extent handles are not the library's */
  char *json = describe(e);
  e->observing = 0;
  return json;
}

/* e2fsck names the image by the path it opened: "image" instead, as the trace calls it. */
static void unname(fx_buf *out, const char *path);

/* How long e2fsck may run before it is killed: FAULTLINE_EXT2FS_FSCK_TIMEOUT seconds (default
 * 120; e2fsck takes milliseconds on these images). Only a hung e2fsck ever meets it. */
static long fsck_timeout_ms(void) {
  const char *env = getenv("FAULTLINE_EXT2FS_FSCK_TIMEOUT");
  long s = env ? strtol(env, NULL, 10) : 0;
  return (s > 0 && s < 86400 ? s : 120) * 1000;
}

static long elapsed_ms(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int fx_run_e2fsck(const fx_disk *d, fx_buf *out) {
  int image = fx_disk_expose(d);
  if (image < 0) return FX_FSCK_NOT_RUN;
  int child_fd = image == 3 ? 4 : 3;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", child_fd);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return FX_FSCK_NOT_RUN;
  /* Our end only: the child writes to a blocking pipe, as it would to a terminal. */
  if (fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) != 0) {
    close(fds[0]);
    close(fds[1]);
    return FX_FSCK_NOT_RUN;
  }
  char **env = fx_child_environ();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_adddup2(&fa, image, child_fd);
  char *argv[] = {"e2fsck", "-fn", path, NULL};
  pid_t pid;
  int rc = env ? posix_spawnp(&pid, "e2fsck", &fa, NULL, argv, env) : ENOMEM;
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return FX_FSCK_NOT_RUN;
  }
  /* Read until end of file and the child's exit, whatever it writes (keeping the first
   * FX_FSCK_KEEP bytes): a child blocked on a full pipe would never exit. Until the deadline. */
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long timeout = fsck_timeout_ms();
  int eof = 0, exited = 0, status = 0, unwaitable = 0;
  unsigned long long dropped = 0;
  char buf[4096];
  for (long guard = 0; !(eof && exited) && guard < (1L << 30); guard++) {
    long left = timeout - elapsed_ms(&start);
    if (left <= 0) break;
    if (!exited) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) exited = 1;
      else if (w < 0 && errno != EINTR) {
        unwaitable = 1; /* not ours to wait for (SIGCHLD ignored?): its verdict is unknown */
        break;
      }
    }
    if (!eof) {
      struct pollfd p = {fds[0], POLLIN, 0};
      /* Once the child has exited, only what is already in the pipe is left to read. */
      if (!exited && poll(&p, 1, left < 50 ? (int)left : 50) < 0 && errno != EINTR) break;
      for (int chunk = 0; chunk < 256; chunk++) {
        ssize_t k = read(fds[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) eof = 1;
        if (k <= 0) break;
        size_t keep = out->len < FX_FSCK_KEEP ? FX_FSCK_KEEP - out->len : 0;
        if ((size_t)k > keep) dropped += (unsigned long long)k - keep;
        if (keep) {
          char *p = fx_reserve(out, (size_t)k < keep ? (size_t)k : keep);
          if (p) {
            memcpy(p, buf, (size_t)k < keep ? (size_t)k : keep);
            fx_commit(out, p + ((size_t)k < keep ? (size_t)k : keep));
          } else {
            out->failed = 1; /* output lost: fx_verify gives no verdict on it */
          }
        }
      }
      if (exited) eof = 1; /* a grandchild holding the pipe open is not waited for */
    } else if (!exited) {
      poll(NULL, 0, left < 5 ? (int)left : 5);
    }
  }
  close(fds[0]);
  if (unwaitable) {
    unname(out, path);
    return FX_FSCK_NOT_RUN;
  }
  int timed_out = !exited;
  if (timed_out) {
    kill(pid, SIGKILL);
    for (int guard = 0; guard < 1000 && waitpid(pid, &status, 0) < 0 && errno == EINTR; guard++) {
    }
  }
  if (dropped) fx_put(out, "\n[faultline: %llu more bytes of e2fsck's output not kept]\n", dropped);
  unname(out, path);
  if (timed_out) return FX_FSCK_TIMED_OUT;
  return WIFEXITED(status) ? WEXITSTATUS(status) : FX_FSCK_NOT_RUN;
}

/* The next line of e2fsck's output that says something (not its version banner, a pass header
 * or a warning), copied into `line`; advances *cursor. 0 when there is none. */
static int next_said(const char **cursor, char *line, size_t size) {
  for (const char *p = *cursor; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    const char *next = nl ? nl + 1 : p + len;
    snprintf(line, size, "%.*s", (int)(len < size - 1 ? len : size - 1), p);
    if (len && strncmp(line, "Pass ", 5) != 0 && strncmp(line, "e2fsck ", 7) != 0 && !strstr(line, "WARNING")) {
      *cursor = next;
      return 1;
    }
    p = next;
  }
  return 0;
}

static void finding(fx_buf *b, int *count, const char *invariant, const char *message, const char *evidence) {
  fx_put(b, "%s{\"invariant\":\"%s\",\"message\":", *count ? "," : "[", invariant);
  fx_put_json_string(b, message);
  fx_put(b, ",\"evidence\":[");
  /* e2fsck's words, one line each. */
  char line[512];
  const char *cursor = evidence;
  for (int lines = 0; lines < 24 && next_said(&cursor, line, sizeof line); lines++) {
    fx_put(b, "%s", lines ? "," : "");
    fx_put_json_string(b, line);
  }
  fx_put(b, "]}");
  (*count)++;
}

static void unname(fx_buf *out, const char *path) {
  size_t n = strlen(path);
  if (!out->s || !n) return;
  char *w = out->s;
  for (const char *r = out->s; *r;) {
    if (strncmp(r, path, n) == 0) {
      memcpy(w, "image", 5);
      w += 5;
      r += n;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
  out->len = (size_t)(w - out->s);
}

/* e2fsck's verdicts by image content: the same bytes get the same verdict, so a sweep runs
 * e2fsck once per distinct final image (many faults leave the image as it was, or as another
 * fault left it). The key is the disk's content key (two 64-bit sums of page hashes, fx_disk.c);
 * FAULTLINE_EXT2FS_FSCK_CACHE=0 turns the cache off (the benchmark measures both). */
typedef struct verdict {
  unsigned long long k1, k2;
  int status;
  char *output;
} verdict;
static pthread_mutex_t verdicts_lock = PTHREAD_MUTEX_INITIALIZER;
static verdict verdicts[4096];
static int n_verdicts;

void fl_ext2fs_forget_verdicts(void) {
  pthread_mutex_lock(&verdicts_lock);
  for (int i = 0; i < n_verdicts; i++) free(verdicts[i].output);
  n_verdicts = 0;
  pthread_mutex_unlock(&verdicts_lock);
}

static int fsck_cached(const fx_disk *d, fx_buf *out) {
  const char *env = getenv("FAULTLINE_EXT2FS_FSCK_CACHE");
  if (env && strcmp(env, "0") == 0) return fx_run_e2fsck(d, out);
  unsigned long long k1, k2;
  fx_disk_key(d, &k1, &k2);
  pthread_mutex_lock(&verdicts_lock);
  for (int i = 0; i < n_verdicts; i++) {
    if (verdicts[i].k1 == k1 && verdicts[i].k2 == k2) {
      int status = verdicts[i].status;
      if (verdicts[i].output) fx_put(out, "%s", verdicts[i].output);
      pthread_mutex_unlock(&verdicts_lock);
      return status;
    }
  }
  pthread_mutex_unlock(&verdicts_lock);
  int status = fx_run_e2fsck(d, out);
  pthread_mutex_lock(&verdicts_lock);
  /* A check that did not run or finish is no verdict on the image: the next try runs it again. */
  if (status >= 0 && n_verdicts < (int)(sizeof verdicts / sizeof *verdicts)) {
    verdicts[n_verdicts] = (verdict){k1, k2, status, out->s ? strdup(out->s) : NULL};
    n_verdicts++;
  }
  pthread_mutex_unlock(&verdicts_lock);
  return status;
}

/* A finding whose evidence is e2fsck's complaints (those `pick` selects: 1 excused, 0 not, -1 all),
 * each with what explains it or why nothing does, then the failed I/O. */
static void complaints_finding(fx_buf *b, int *count, const char *invariant, const char *message,
                               const fx_complaints *cs, int pick, const fx_engine *e) {
  fx_put(b, "%s{\"invariant\":\"%s\",\"message\":", *count ? "," : "[", invariant);
  fx_put_json_string(b, message);
  fx_put(b, ",\"evidence\":[");
  int lines = 0, more = 0;
  for (int i = 0; i < fx_complaints_count(cs); i++) {
    if (!fx_complaint_is_damage(cs, i) || (pick >= 0 && fx_complaint_excused(cs, i) != pick)) continue;
    if (lines >= 24) {
      more++;
      continue;
    }
    char line[1200];
    const char *why = fx_complaint_why(cs, i);
    if (pick == -1 || !why[0]) snprintf(line, sizeof line, "%.700s", fx_complaint_text(cs, i));
    else
      snprintf(line, sizeof line, "%.600s [%s: %.560s]", fx_complaint_text(cs, i),
               pick ? "explained" : "not excused", why);
    fx_put(b, "%s", lines++ ? "," : "");
    fx_put_json_string(b, line);
  }
  if (more) {
    char line[64];
    snprintf(line, sizeof line, "and %d more", more);
    fx_put(b, "%s", lines++ ? "," : "");
    fx_put_json_string(b, line);
  }
  for (int i = 0; i < e->n_failed && i < 8; i++) {
    char line[700] = "failed I/O: ";
    fx_failed_io_describe(&e->failed[i], line + strlen(line), sizeof line - strlen(line));
    snprintf(line + strlen(line), sizeof line - strlen(line), " in op %d (%s)", e->failed[i].op, e->failed[i].op_kind);
    fx_put(b, "%s", lines++ ? "," : "");
    fx_put_json_string(b, line);
  }
  if (e->n_failed > 8) {
    char line[64];
    snprintf(line, sizeof line, "failed I/O: and %d more", e->n_failed - 8);
    fx_put(b, ",");
    fx_put_json_string(b, line);
  }
  fx_put(b, "]}");
  (*count)++;
}

char *fx_verify(fx_engine *e) {
  fx_buf b = {0};
  int n = 0;
  errcode_t closed = 0;
  if (e->fs) {
    closed = ext2fs_close2(e->fs, 0);
    if (closed) ext2fs_free(e->fs);
    e->fs = NULL;
  }
  fx_buf out = {0};
  int status = fsck_cached(&e->disk, &out);
  char msg[1024];
  if (closed) {
    snprintf(msg, sizeof msg, "ext2fs_close2 failed: %s", error_message(closed));
    finding(&b, &n, "close-clean", msg, out.s);
  }
  if (status == FX_FSCK_TIMED_OUT || status < 0 || status >= 8) {
    const char *what = status == FX_FSCK_TIMED_OUT ? "e2fsck -fn did not finish in time "
                                                     "(FAULTLINE_EXT2FS_FSCK_TIMEOUT): killed, the image is not checked"
                                                   : "e2fsck could not check the image";
    char problem[256] = "";
    const char *cursor = out.s;
    next_said(&cursor, problem, sizeof problem);
    snprintf(msg, sizeof msg, "%s; e2fsck -fn exit %d: %s", what, status, problem);
    finding(&b, &n, "image-consistent", msg, out.s);
  } else if (status != 0) {
    /* Each complaint, excused only when a failed read or write explains it (fx_explain.c). */
    fx_complaints *cs = fx_complaints_parse(out.s);
    if (cs) fx_complaints_excuse(e, cs);
    int excused = 0, unexcused = 0, first_excused = -1, first_not = -1;
    for (int i = 0; i < fx_complaints_count(cs); i++) {
      if (!fx_complaint_is_damage(cs, i)) continue;
      if (fx_complaint_excused(cs, i)) {
        if (first_excused < 0) first_excused = i;
        excused++;
      } else {
        if (first_not < 0) first_not = i;
        unexcused++;
      }
    }
    if (fx_complaints_lost(cs)) {
      snprintf(msg, sizeof msg, "e2fsck -fn exit %d, and its complaints could not be read (out of memory)", status);
      finding(&b, &n, "image-consistent", msg, out.s);
    } else if (e->swallowed) {
      /* Checked first: a swallowed error is never excused by a failed I/O. */
      snprintf(msg, sizeof msg,
               "error swallowed: an operation in which a fault fired returned success; e2fsck -fn exit %d: %.500s",
               status, excused + unexcused ? fx_complaint_text(cs, first_not >= 0 ? first_not : first_excused) : "");
      complaints_finding(&b, &n, "errors-not-swallowed", msg, cs, -1, e);
    } else {
      if (unexcused || !excused) {
        const char *invariant, *what;
        if (e->faults_fired && e->ops_failed && !closed) {
          invariant = "error-path-consistent";
          what = "error path left the image inconsistent: the operation returned its error, the close succeeded";
        } else {
          invariant = "image-consistent";
          what = e->faults_fired ? "the image is damaged (and the close failed)"
                                 : "no fault fired, yet the image is damaged";
        }
        int k = snprintf(msg, sizeof msg, "%s; e2fsck -fn exit %d: %.500s", what, status,
                         first_not >= 0 ? fx_complaint_text(cs, first_not) : "(no complaint faultline could read)");
        if (excused && k > 0 && (size_t)k < sizeof msg)
          snprintf(msg + k, sizeof msg - (size_t)k, " (and %d complaint%s the failed I/O explains: io-error-damage)",
                   excused, excused == 1 ? "" : "s");
        complaints_finding(&b, &n, invariant, msg, cs, 0, e);
      }
      if (excused) {
        /* libext2fs writes in place and never through the journal (with or without one), so nothing
         * rolls back a half-done update after an I/O error: damage to what the failed I/O held is
         * expected. */
        snprintf(msg, sizeof msg,
                 "damage where the I/O failed (libext2fs writes in place, no rollback: expected, not a library bug); "
                 "e2fsck -fn exit %d: %.500s",
                 status, fx_complaint_text(cs, first_excused));
        complaints_finding(&b, &n, "io-error-damage", msg, cs, 1, e);
      }
    }
    fx_complaints_free(cs);
  }
  int lost = out.failed;
  free(out.s);
  fx_put(&b, "]");
  if (b.failed || lost) {
    /* Findings that could not be written whole are no verdict: not JSON, so the harness calls
     * the scenario unjudged instead of reading "nothing found". */
    free(b.s);
    return strdup("faultline ext2fs: out of memory while judging the image");
  }
  if (!n) {
    free(b.s);
    return NULL;
  }
  return b.s;
}
