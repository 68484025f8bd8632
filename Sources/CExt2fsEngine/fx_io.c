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

/* The engine whose image is being opened (io_manager->open has no context argument), and the
 * one running on this thread (where libext2fs's com_err messages go). */
static __thread fx_engine *opening;
static __thread fx_engine *running;
static void set_opening(fx_engine *e) { opening = e; }

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
  fx_engine *engine;
} fx_channel;

/* A pass through `point` for an I/O: 0, or the errno an injected failure returns. */
static errcode_t io_point(fx_engine *e, int point) {
  if (!e->ctx) return 0;
  int err = fl_fail(e->ctx, point);
  if (err) {
    e->faults_fired++;
    e->io_faults_fired++;
  }
  return (errcode_t)err;
}

static errcode_t fx_io_open(const char *name, int flags, io_channel *channel) {
  (void)flags;
  if (!opening) return EXT2_ET_BAD_DEVICE_NAME;
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
  fx_engine *e = engine_of_io(io);
  errcode_t rc = io_point(e, FX_IO_READ);
  return rc ? rc : fx_disk_read(&e->disk, block * (unsigned long long)io->block_size, bytes_of(io, count), data);
}

static errcode_t fx_io_read_blk(io_channel io, unsigned long block, int count, void *data) {
  return fx_io_read_blk64(io, block, count, data);
}

static errcode_t fx_io_write_blk64(io_channel io, unsigned long long block, int count, const void *data) {
  fx_engine *e = engine_of_io(io);
  errcode_t rc = io_point(e, FX_IO_WRITE);
  return rc ? rc : fx_disk_write(&e->disk, block * (unsigned long long)io->block_size, bytes_of(io, count), data);
}

static errcode_t fx_io_write_blk(io_channel io, unsigned long block, int count, const void *data) {
  return fx_io_write_blk64(io, block, count, data);
}

static errcode_t fx_io_write_byte(io_channel io, unsigned long offset, int size, const void *data) {
  fx_engine *e = engine_of_io(io);
  errcode_t rc = io_point(e, FX_IO_WRITE);
  if (rc) return rc;
  return size < 0 ? EXT2_ET_INVALID_ARGUMENT : fx_disk_write(&e->disk, offset, (size_t)size, data);
}

/* Nothing is cached below this manager: a flush is its fault point alone. */
static errcode_t fx_io_flush(io_channel io) { return io_point(engine_of_io(io), FX_IO_FLUSH); }

static errcode_t fx_io_set_option(io_channel io, const char *option, const char *arg) {
  (void)io, (void)option, (void)arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

/* As a hole punched in an image file: zeros. No fault point: the catalog declares none for discard. */
static errcode_t fx_io_discard(io_channel io, unsigned long long block, unsigned long long count) {
  fx_engine *e = engine_of_io(io);
  unsigned long long bs = (unsigned long long)io->block_size, at = block * bs;
  if (at >= e->disk.len) return 0;
  unsigned long long n = count * bs < e->disk.len - at ? count * bs : e->disk.len - at;
  return fx_disk_write(&e->disk, at, (size_t)n, NULL);
}

static errcode_t fx_io_zeroout(io_channel io, unsigned long long block, unsigned long long count) {
  fx_engine *e = engine_of_io(io);
  errcode_t rc = io_point(e, FX_IO_ZEROOUT);
  unsigned long long bs = (unsigned long long)io->block_size;
  return rc ? rc : fx_disk_write(&e->disk, block * bs, (size_t)(count * bs), NULL);
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
  if (e && e->ctx) {
    int point = actx && actx->flags == BLOCK_ALLOC_DATA ? FX_ALLOC_DATA : FX_ALLOC_METADATA;
    int err = fl_fail(e->ctx, point);
    if (err) {
      e->faults_fired++;
      return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
    }
  }
  /* The library's own search, on the bitmap (a map argument keeps it from calling us again). */
  return ext2fs_new_block3(fs, goal, fs->block_map, ret, actx);
}

static errcode_t (*default_new_range)(ext2_filsys, int, blk64_t, blk64_t, blk64_t *, blk64_t *);

static errcode_t new_range(ext2_filsys fs, int flags, blk64_t goal, blk64_t len, blk64_t *pblk, blk64_t *plen) {
  fx_engine *e = engine_of(fs);
  if (e && e->ctx) {
    int err = fl_fail(e->ctx, FX_ALLOC_RANGE);
    if (err) {
      e->faults_fired++;
      return err == ENOSPC ? EXT2_ET_BLOCK_ALLOC_FAIL : (errcode_t)err;
    }
  }
  if (default_new_range) return default_new_range(fs, flags, goal, len, pblk, plen);
  return ext2fs_new_range(fs, flags, goal, len, fs->block_map, pblk, plen);
}

errcode_t fx_open(fx_engine *e) {
  set_opening(e);
  ext2_filsys fs = NULL;
  errcode_t rc =
      ext2fs_open2("image", NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, fx_io_manager, &fs);
  set_opening(NULL);
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
