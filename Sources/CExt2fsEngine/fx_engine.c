/* Engine `ext2fs`: e2fsprogs' libext2fs under fault injection. Each scenario opens its setup's
 * image (in memory, copy-on-write: fx_disk.c) through a fault-injecting io_manager, with libext2fs's allocator
 * hooked; operations are what fuse2fs or debugfs would call; after the plan the filesystem is
 * closed and e2fsck -fn judges the image. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl_ext2fs.h"
#include "fx_internal.h"

static const int enospc[] = {ENOSPC};
static const int eio[] = {EIO};
static const fl_point_def points[FX_N_POINTS] = {
    {"alloc.data", FL_KIND_ALLOCATOR, enospc, 1,
     "ext2fs_alloc_block3 for what libext2fs labels file data (get_alloc_block2, BLOCK_ALLOC_DATA): extent-mapped "
     "files' data, fallocate's single blocks; in a block-mapped file, the direct blocks and the indirect blocks the "
     "inode points at (ext2fs_bmap2 labels those data too)"},
    {"alloc.metadata", FL_KIND_ALLOCATOR, enospc, 1,
     "ext2fs_alloc_block3 for everything else: extent tree nodes, directory, xattr and symlink blocks; in a "
     "block-mapped file, the blocks under an indirect block, data included (allocated with no label)"},
    {"alloc.range", FL_KIND_ALLOCATOR, enospc, 1, "ext2fs_new_range: fallocate's and punch's range allocations"},
    {"io.read", FL_KIND_IO, eio, 1, "io_channel_read_blk64: every block read (inodes, bitmaps, tree nodes, data)"},
    {"io.write", FL_KIND_IO, eio, 1, "io_channel_write_blk64 and write_byte: every block written"},
    {"io.flush", FL_KIND_IO, eio, 1, "io_channel_flush: ext2fs_flush and close"},
    {"io.zeroout", FL_KIND_IO, eio, 1, "io_channel_zeroout: zeroing new blocks (fallocate zero-blocks)"},
};
static const char *const operations[] = {"create",   "write",     "append",  "read",    "truncate", "punch",
                                         "fallocate", "mkdir",    "link",    "unlink",  "symlink",  "setxattr",
                                         "removexattr", "fsync"};
/* data-durable and errors-reported: the harness's data oracle reads every file the plan touched
 * (the engine's `read`) before recover and after it. */
static const char *const shared[] = {"locks-released", "no-double-allocation", "data-durable", "errors-reported"};
static const fl_invariant_def own[] = {
    {"in-memory-consistent",
     "After every failed operation and at rest, as libext2fs sees it (its inode cache and bitmaps, and the blocks "
     "it reads back): every block a file maps (data, extent tree nodes, indirect blocks) is marked in the block "
     "bitmap; each file's i_blocks equals what its extent tree or block map maps plus its xattr block; the bitmap, "
     "the group descriptors and the superblock count the same free blocks.",
     "Inode-bitmap counts; files no directory names; directories' contents (e2fsck does that after the "
     "close)."},
    {"close-clean", "ext2fs_close2 succeeds after the plan (it writes the superblock, descriptors and bitmaps).",
     "What the close wrote: e2fsck judges the image."},
    {"image-consistent",
     "e2fsck -fn finds the image clean after the close; a damaged image that none of the classes below explains "
     "(no fault fired, or the close failed too) is reported here.",
     "Data contents: e2fsck checks metadata only."},
    {"error-path-consistent",
     "A failed operation leaves a consistent image: when a fault fired, the operation returned its error, and the "
     "close succeeded, e2fsck -fn finds nothing but what a failed read or write explains (io-error-damage). Each "
     "complaint reported here says why no failure explains it.",
     "Complaints a failed read or write explains (io-error-damage reports those)."},
    {"errors-not-swallowed",
     "A fault that damages the image is reported: when a fault fired during an operation that then returned "
     "success, e2fsck finds no damage (checked first: a swallowed error is never excused by a later one).",
     "Faults that were retried and left no damage (those pass)."},
    {"io-error-damage",
     "Damage where an injected read or write failed, reported as expected (libext2fs writes in place and never "
     "through the journal, with or without one, so nothing rolls a half-done update back), one e2fsck complaint "
     "at a time and only with a cause: the complaint names an inode whose inode-table block, extent tree node, "
     "indirect, directory, xattr or symlink block had a failed read or write, or that was being linked into or "
     "unlinked from a directory when one failed; or a leaked block (e2fsck's '-' bitmap differences) whose own "
     "write failed, or that was allocated in this scenario to (or at setup belonged to) such an inode; or a "
     "leaked inode that is such an inode. Each excused complaint names the failure that explains it "
     "(io.write#7 failed block 35 (inode table of group 0, inodes 13-16)).",
     "Never excused (reported under error-path-consistent or image-consistent): blocks or inodes in use that the "
     "bitmap has free (the unsafe kind: mapped and free at once), blocks claimed twice, free, inode and directory "
     "counts and bitmap padding (the fault-free close writes them from libext2fs's memory, so no failed write "
     "put them there), failed reads or writes of file data (data is not metadata: damage after one comes from "
     "the library's ordering, as mechanism E), failed superblock, descriptor and bitmap writes (the close writes "
     "them again), a complaint that names no inode or block, and anything in a scenario where an operation a "
     "fault hit returned success (errors-not-swallowed). Not whether the excused damage is the least possible.",
     1},
};

static int check_setup(const char *setup, char *err, size_t len) {
  fx_config cfg;
  return fx_parse_config(setup, &cfg, err, len);
}

static void *create(const fl_ctx *ctx, const char *setup, const char *const *bugs, int n_bugs, char *err, size_t len) {
  (void)bugs, (void)n_bugs;
  fx_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (fx_parse_config(setup, &e->cfg, err, len)) {
    free(e);
    return NULL;
  }
  e->ctx = ctx;
  const unsigned char *bytes;
  size_t n;
  unsigned long long k1, k2;
  if (fx_setup_image(setup, &e->cfg, &bytes, &n, &k1, &k2, err, len)) {
    free(e);
    return NULL;
  }
  if (fx_disk_init(&e->disk, bytes, n, k1, k2)) {
    snprintf(err, len, "out of memory");
    free(e);
    return NULL;
  }
  return e;
}

static int setup(void *p) {
  fx_engine *e = p;
  fx_running(e);
  errcode_t rc = fx_open(e);
  /* Hits are numbered from here, as the harness numbers them (it counts none during setup). */
  memset(e->hits, 0, sizeof e->hits);
  return rc ? fx_errno(e, rc, "open") : 0;
}

static int perform(void *p, const char *op, fl_buf *out) {
  fx_running(p);
  return fx_perform(p, op, out);
}

static char *snapshot(void *p) {
  fx_running(p);
  return fx_snapshot(p);
}

static char *verify(void *p) {
  fx_running(p);
  return fx_verify(p);
}

/* A crash and a mount: what libext2fs holds only in memory is dropped unwritten, and the
 * filesystem is opened again from the disk's bytes. libext2fs writes file data, inodes, extent
 * tree nodes and directory blocks through to the disk as each operation makes them (every
 * operation closes its file handle, flushing its buffer); what it keeps in memory until a flush
 * is the block and inode bitmaps and the free counts in the group descriptors and superblock,
 * which a crash loses. The harness runs verify (which closes the filesystem, fault-free, and
 * runs e2fsck) before recover, so in a scenario recover finds the filesystem closed and models
 * the mount after that unmount: the data oracle then reads each file as the disk holds it, not
 * as libext2fs's inode cache and open state had it before. */
static int recover(void *p) {
  fx_engine *e = p;
  fx_running(e);
  if (e->fs) {
    ext2fs_free(e->fs); /* a crash: nothing more is written */
    e->fs = NULL;
  }
  errcode_t rc = fx_open(e);
  return rc ? fx_errno(e, rc, "reopen") : 0;
}

static void destroy(void *p) {
  fx_engine *e = p;
  /* Extent handles the library leaked (the snapshots have reported them): freed with the rest. */
  for (int i = 0; i < FX_MAX_EXTENT_HANDLES; i++)
    if (e->extent_handles[i].handle) ext2fs_extent_free(e->extent_handles[i].handle);
  fx_not_running(e);
  if (e->fs) ext2fs_free(e->fs); /* without writing: the scenario is over */
  fx_blocks_free(e);
  fx_disk_free(&e->disk);
  free(e);
}

static const fl_engine engine = {
    .abi_version = FL_ABI_VERSION,
    .name = "ext2fs",
    .about = "e2fsprogs' libext2fs (allocator, extent trees, punch, fallocate, file I/O), judged by e2fsck",
    .points = points,
    .n_points = FX_N_POINTS,
    .operations = operations,
    .n_operations = sizeof operations / sizeof *operations,
    .bugs = NULL,
    .n_bugs = 0,
    .invariants = shared,
    .n_invariants = sizeof shared / sizeof *shared,
    .own_invariants = own,
    .n_own_invariants = sizeof own / sizeof *own,
    .check_setup = check_setup,
    .create = create,
    .setup = setup,
    .perform = perform,
    .snapshot = snapshot,
    .recover = recover,
    .destroy = destroy,
    .verify = verify,
};

const fl_engine *fl_ext2fs_engine(void) { return &engine; }
