/* The fault points of the ext2fs engine: an io_manager over the scenario's in-memory disk (read,
 * write, flush, zeroout), and libext2fs's own allocation hooks (get_alloc_block2 tells data from
 * metadata; the new-range callback is fallocate's range allocation). */
#include <errno.h>
#include <et/com_err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_internal.h"

/* The disk being opened and the engine whose it is, NULL for a quiet look (io_manager->open has
 * no context argument), and the engine running on this thread (where libext2fs's com_err
 * messages go). */
static __thread fx_engine *opening;
static __thread fx_disk *opening_disk;
static __thread fx_engine *running;
static void set_opening(fx_engine *e, fx_disk *d) {
  opening = e;
  opening_disk = d;
}

/* libext2fs reports some problems through com_err, which prints to stderr: into the trace instead. */
static void com_err_to_trace(const char *whoami, errcode_t code, const char *fmt, va_list args) {
  char msg[512], line[700];
  vsnprintf(msg, sizeof msg, fmt ? fmt : "", args);
  snprintf(line, sizeof line, "ext2fs (%s): %s %s", whoami ? whoami : "libext2fs", code ? error_message(code) : "", msg);
  if (running && running->ctx) running->ctx->trace(running->ctx->harness, line);
}

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static void install_hook(void) {
  set_com_err_hook(com_err_to_trace);
  /* libext2fs's own messages ("Could not write block bitmap", not "Unknown code ext2 29"). */
  initialize_ext2_error_table();
}

void fx_library_init(void) { pthread_once(&hook_once, install_hook); }

void fx_running(fx_engine *e) {
  fx_library_init();
  running = e;
}

fx_engine *fx_running_engine(void) { return running; }

void fx_not_running(fx_engine *e) {
  if (running == e) running = NULL;
}

typedef struct fx_channel {
  fx_engine *engine; /* NULL: a quiet channel, no fault points */
  fx_disk *disk;
} fx_channel;

/* A pass through fault point `point`, counted when armed (the harness numbers exactly those). */
static int pass(fx_engine *e, int point) {
  if (e->ctx->armed[point]) e->hits[point]++;
  return fl_fail(e->ctx, point);
}

/* A pass through `point` for an I/O of bytes [off, off + len) (`data`: what a write writes): 0,
 * or the errno an injected failure returns, which is recorded with what those blocks are. */
static errcode_t io_point(fx_engine *e, int point, unsigned long long off, unsigned long long len, const void *data) {
  if (!e || !e->ctx) return 0;
  int err = pass(e, point);
  if (err) {
    e->faults_fired++;
    e->io_faults_fired++;
    fx_note_failed_io(e, point, off, len, data);
  }
  return (errcode_t)err;
}

static errcode_t fx_io_open(const char *name, int flags, io_channel *channel) {
  (void)flags;
  if (!opening_disk) return EXT2_ET_BAD_DEVICE_NAME;
  io_channel io = NULL;
  fx_channel *priv = NULL;
  errcode_t rc = ext2fs_get_memzero(sizeof(struct struct_io_channel), &io);
  if (!rc) rc = ext2fs_get_memzero(sizeof(fx_channel), &priv);
  if (!rc) rc = ext2fs_get_mem(strlen(name) + 1, &io->name);
  if (rc) {
    ext2fs_free_mem(&priv);
    if (io) ext2fs_free_mem(&io);
    return rc;
  }
  strcpy(io->name, name);
  priv->engine = opening;
  priv->disk = opening_disk;
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = fx_io_manager;
  io->block_size = 1024;
  io->refcount = 1;
  /* What unix_io_manager says of an image file: a discard (a punched hole) reads back as zeros. */
  io->flags = CHANNEL_FLAGS_DISCARD_ZEROES;
  io->private_data = priv;
  *channel = io;
  return 0;
}

static fx_engine *engine_of_io(io_channel io) { return ((fx_channel *)io->private_data)->engine; }
static fx_disk *disk_of_io(io_channel io) { return ((fx_channel *)io->private_data)->disk; }

static errcode_t fx_io_close(io_channel io) {
  if (--io->refcount > 0) return 0;
  ext2fs_free_mem(&io->private_data);
  ext2fs_free_mem(&io->name);
  ext2fs_free_mem(&io);
  return 0;
}

static errcode_t fx_io_set_blksize(io_channel io, int blksize) {
  if (blksize <= 0 || blksize % FX_PAGE != 0) return EXT2_ET_INVALID_ARGUMENT;
  io->block_size = blksize;
  return 0;
}

/* A count below zero is a byte count (libext2fs's convention). */
static size_t bytes_of(io_channel io, long long count) {
  return count < 0 ? (size_t)-count : (size_t)count * (size_t)io->block_size;
}

static errcode_t fx_io_read_blk64(io_channel io, unsigned long long block, int count, void *data) {
  unsigned long long off = block * (unsigned long long)io->block_size;
  errcode_t rc = io_point(engine_of_io(io), FX_IO_READ, off, bytes_of(io, count), NULL);
  return rc ? rc : fx_disk_read(disk_of_io(io), off, bytes_of(io, count), data);
}

static errcode_t fx_io_read_blk(io_channel io, unsigned long block, int count, void *data) {
  return fx_io_read_blk64(io, block, count, data);
}

static errcode_t fx_io_write_blk64(io_channel io, unsigned long long block, int count, const void *data) {
  unsigned long long off = block * (unsigned long long)io->block_size;
  errcode_t rc = io_point(engine_of_io(io), FX_IO_WRITE, off, bytes_of(io, count), data);
  return rc ? rc : fx_disk_write(disk_of_io(io), off, bytes_of(io, count), data);
}

static errcode_t fx_io_write_blk(io_channel io, unsigned long block, int count, const void *data) {
  return fx_io_write_blk64(io, block, count, data);
}

static errcode_t fx_io_write_byte(io_channel io, unsigned long offset, int size, const void *data) {
  errcode_t rc = io_point(engine_of_io(io), FX_IO_WRITE, offset, size < 0 ? 0 : (unsigned long long)size, NULL);
  if (rc) return rc;
  return size < 0 ? EXT2_ET_INVALID_ARGUMENT : fx_disk_write(disk_of_io(io), offset, (size_t)size, data);
}

/* Nothing is cached below this manager: a flush is its fault point alone. */
static errcode_t fx_io_flush(io_channel io) { return io_point(engine_of_io(io), FX_IO_FLUSH, 0, 0, NULL); }

static errcode_t fx_io_set_option(io_channel io, const char *option, const char *arg) {
  (void)io, (void)option, (void)arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

/* As a hole punched in an image file: zeros. No fault point: the catalog declares none for discard. */
static errcode_t fx_io_discard(io_channel io, unsigned long long block, unsigned long long count) {
  fx_disk *d = disk_of_io(io);
  unsigned long long bs = (unsigned long long)io->block_size, at = block * bs;
  if (at >= d->len) return 0;
  unsigned long long n = count * bs < d->len - at ? count * bs : d->len - at;
  return fx_disk_write(d, at, (size_t)n, NULL);
}

static errcode_t fx_io_zeroout(io_channel io, unsigned long long block, unsigned long long count) {
  unsigned long long bs = (unsigned long long)io->block_size;
  errcode_t rc = io_point(engine_of_io(io), FX_IO_ZEROOUT, block * bs, count * bs, NULL);
  return rc ? rc : fx_disk_write(disk_of_io(io), block * bs, (size_t)(count * bs), NULL);
}

static struct struct_io_manager fx_io_manager_struct = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "faultline I/O manager",
    .open = fx_io_open,
    .close = fx_io_close,
    .set_blksize = fx_io_set_blksize,
    .read_blk = fx_io_read_blk,
    .write_blk = fx_io_write_blk,
    .flush = fx_io_flush,
    .write_byte = fx_io_write_byte,
    .set_option = fx_io_set_option,
    /* No get_stats: the superblock's lifetime-writes counter (s_kbytes_written) then stays as
     * setup left it, so two scenarios that end in the same state end in the same bytes, and
     * e2fsck's verdict on one is its verdict on the other (the verdict cache). */
    .get_stats = NULL,
    .read_blk64 = fx_io_read_blk64,
    .write_blk64 = fx_io_write_blk64,
    .discard = fx_io_discard,
    .zeroout = fx_io_zeroout,
};
io_manager fx_io_manager = &fx_io_manager_struct;

/* --- allocation hooks ------------------------------------------------------------------------ */

static fx_engine *engine_of(ext2_filsys fs) { return (fx_engine *)fs->priv_data; }

static errcode_t alloc_block2(ext2_filsys fs, blk64_t goal, blk64_t *ret, struct blk_alloc_ctx *actx) {
  fx_engine *e = engine_of(fs);
  int data = actx && actx->flags == BLOCK_ALLOC_DATA;
  if (e && e->ctx) {
    int err = pass(e, data ? FX_ALLOC_DATA : FX_ALLOC_METADATA);
    if (err) {
      e->faults_fired++;
      return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
    }
  }
  /* The library's own search, on the bitmap (a map argument keeps it from calling us again). */
  errcode_t rc = ext2fs_new_block3(fs, goal, fs->block_map, ret, actx);
  if (!rc && e) fx_note_alloc(e, *ret, 1, actx ? actx->ino : 0, !data);
  return rc;
}

static errcode_t (*default_new_range)(ext2_filsys, int, blk64_t, blk64_t, blk64_t *, blk64_t *);

static errcode_t new_range(ext2_filsys fs, int flags, blk64_t goal, blk64_t len, blk64_t *pblk, blk64_t *plen) {
  fx_engine *e = engine_of(fs);
  if (e && e->ctx) {
    int err = pass(e, FX_ALLOC_RANGE);
    if (err) {
      e->faults_fired++;
      return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
    }
  }
  errcode_t rc = default_new_range ? default_new_range(fs, flags, goal, len, pblk, plen)
                                   : ext2fs_new_range(fs, flags, goal, len, fs->block_map, pblk, plen);
  /* fallocate's ranges are file data, for the operation's file. */
  if (!rc && e) fx_note_alloc(e, *pblk, plen ? *plen : len, 0, 0);
  return rc;
}

errcode_t fx_open(fx_engine *e) {
  set_opening(e, &e->disk);
  ext2_filsys fs = NULL;
  errcode_t rc =
      ext2fs_open2("image", NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, fx_io_manager, &fs);
  set_opening(NULL, NULL);
  if (rc) return rc;
  fs->priv_data = e;
  fs->now = 1700000000;
  if ((rc = ext2fs_read_bitmaps(fs))) {
    ext2fs_close_free(&fs);
    return rc;
  }
  fs->get_alloc_block2 = alloc_block2;
  errcode_t (*old)(ext2_filsys, int, blk64_t, blk64_t, blk64_t *, blk64_t *) = NULL;
  ext2fs_set_new_range_callback(fs, new_range, &old);
  default_new_range = NULL; /* the library's own search with an explicit map, never recursion */
  (void)old;
  e->fs = fs;
  return 0;
}

errcode_t fx_open_quiet(fx_disk *d, ext2_filsys *out) {
  /* It may run inside another open's I/O (a fault while the engine's image is being opened):
   * what that open was opening is put back. */
  fx_engine *was = opening;
  fx_disk *was_disk = opening_disk;
  set_opening(NULL, d);
  ext2_filsys fs = NULL;
  errcode_t rc = ext2fs_open2("image", NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
                              fx_io_manager, &fs);
  set_opening(was, was_disk);
  *out = rc ? NULL : fs;
  return rc;
}
