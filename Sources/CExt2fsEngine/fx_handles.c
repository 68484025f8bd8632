/* Extent handles libext2fs opens inside its own functions (punch, fallocate, bmap, ...), seen as
 * held resources; and ext2fs_link and ext2fs_unlink, so that a read or write failing inside one
 * is known to concern the inode being linked or unlinked and its directory (fx_blocks.c).
 * libext2fs calls its own ext2fs_extent_open2, ext2fs_extent_free and ext2fs_link (from mkdir
 * and symlink) through the PLT, so the definitions below, linked into the executable, are the
 * ones it reaches: each forwards to the library's (dlsym RTLD_NEXT). While an engine runs an
 * operation on its own filesystem, an extent handle is recorded until it is freed (the snapshot
 * reports the ones still open between operations, which is a leak: every caller in the library
 * frees what it opened), and a link or unlink is noted while it runs. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fx_internal.h"

typedef errcode_t (*open2_fn)(ext2_filsys, ext2_ino_t, struct ext2_inode *, ext2_extent_handle_t *);
typedef void (*free_fn)(ext2_extent_handle_t);
typedef errcode_t (*link_fn)(ext2_filsys, ext2_ino_t, const char *, ext2_ino_t, int);
static open2_fn real_open2;
static free_fn real_free;
static link_fn real_link, real_unlink;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static unsigned long opened; /* every open through here, any thread (tests check the interposition) */

unsigned long fx_extent_handles_opened(void) { return __atomic_load_n(&opened, __ATOMIC_RELAXED); }

static void resolve(void) {
  real_open2 = (open2_fn)dlsym(RTLD_NEXT, "ext2fs_extent_open2");
  real_free = (free_fn)dlsym(RTLD_NEXT, "ext2fs_extent_free");
  real_link = (link_fn)dlsym(RTLD_NEXT, "ext2fs_link");
  real_unlink = (link_fn)dlsym(RTLD_NEXT, "ext2fs_unlink");
}

/* The engine to charge for a handle on `fs`: the one running on this thread, when `fs` is its
 * filesystem and it is not describing itself (snapshots open handles of their own). */
static fx_engine *owner(ext2_filsys fs) {
  fx_engine *e = fx_running_engine();
  return e && fs && e->fs == fs && !e->observing ? e : NULL;
}

errcode_t ext2fs_extent_open2(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode,
                              ext2_extent_handle_t *handle) {
  pthread_once(&resolve_once, resolve);
  if (!real_open2) return EXT2_ET_OP_NOT_SUPPORTED;
  errcode_t rc = real_open2(fs, ino, inode, handle);
  __atomic_add_fetch(&opened, 1, __ATOMIC_RELAXED);
  fx_engine *e = rc ? NULL : owner(fs);
  if (!e) return rc;
  for (int i = 0; i < FX_MAX_EXTENT_HANDLES; i++) {
    fx_extent_handle *x = &e->extent_handles[i];
    if (x->handle) continue;
    x->handle = *handle;
    x->ino = ino;
    if (e->ctx) {
      snprintf(x->task, sizeof x->task, "%s", e->ctx->task(e->ctx->harness));
      x->op = e->ctx->op_index(e->ctx->harness);
      snprintf(x->op_name, sizeof x->op_name, "%s", e->ctx->op_name(e->ctx->harness));
    }
    return rc;
  }
  e->extent_handles_untracked++;
  return rc;
}

void ext2fs_extent_free(ext2_extent_handle_t handle) {
  pthread_once(&resolve_once, resolve);
  fx_engine *e = fx_running_engine();
  for (int i = 0; e && handle && i < FX_MAX_EXTENT_HANDLES; i++) {
    if (e->extent_handles[i].handle == handle) {
      memset(&e->extent_handles[i], 0, sizeof e->extent_handles[i]);
      break;
    }
  }
  if (real_free) real_free(handle);
}

/* `real` (ext2fs_link or ext2fs_unlink) with the engine knowing which entry is being changed. */
static errcode_t changing_entry(link_fn real, ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
                                int flags) {
  if (!real) return EXT2_ET_OP_NOT_SUPPORTED;
  fx_engine *e = owner(fs);
  if (!e) return real(fs, dir, name, ino, flags);
  ext2_ino_t was_ino = e->linking, was_dir = e->link_dir;
  e->linking = ino;
  e->link_dir = dir;
  errcode_t rc = real(fs, dir, name, ino, flags);
  e->linking = was_ino;
  e->link_dir = was_dir;
  return rc;
}

errcode_t ext2fs_link(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino, int flags) {
  pthread_once(&resolve_once, resolve);
  return changing_entry(real_link, fs, dir, name, ino, flags);
}

errcode_t ext2fs_unlink(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino, int flags) {
  pthread_once(&resolve_once, resolve);
  return changing_entry(real_unlink, fs, dir, name, ino, flags);
}
