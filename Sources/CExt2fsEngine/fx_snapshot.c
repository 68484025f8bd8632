/* What the ext2fs engine reports: the snapshot in the common model with its in-memory
 * consistency checks. Verify (close the filesystem, then e2fsck -fn on the image) is fx_verify.c. */
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
