/* What a block of the filesystem is: part of its layout (a superblock, the group descriptors, a
 * bitmap, an inode table block and which inodes it holds), or what a file maps it as (an extent
 * tree node, an indirect block, a directory, xattr or symlink block, file data), or newly
 * allocated in this scenario, or free. Used for the trace ("io.write#7 failed block 35 (inode
 * table of group 0, inodes 13-16)") and to tell which of e2fsck's complaints a failed read or
 * write explains (fx_explain.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_internal.h"

/* Bounds on what one scenario records; what does not fit is counted (and then explains nothing). */
enum { MAX_FAILED = 1024, MAX_ALLOCS = 4096 };

static const char *const point_names[FX_N_POINTS] = {"alloc.data", "alloc.metadata", "alloc.range", "io.read",
                                                     "io.write",   "io.flush",       "io.zeroout"};

/* The filesystem's own layout. 1 when `blk` is part of it, with `out` filled. */
static int layout_kind(ext2_filsys fs, blk64_t blk, fx_block_info *out) {
  unsigned long long old_blocks = ext2fs_has_feature_meta_bg(fs->super) ? fs->super->s_first_meta_bg : fs->desc_blocks;
  unsigned long long reserved = ext2fs_has_feature_meta_bg(fs->super) ? 0 : fs->super->s_reserved_gdt_blocks;
  unsigned ipb = (unsigned)EXT2_INODES_PER_BLOCK(fs->super);
  for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
    blk64_t super = 0, old_desc = 0, new_desc = 0;
    blk_t used = 0;
    ext2fs_super_and_bgd_loc2(fs, g, &super, &old_desc, &new_desc, &used);
    out->group = g;
    if (ext2fs_bg_has_super(fs, g) && blk == super) {
      out->kind = FX_BLK_SUPERBLOCK;
      return 1;
    }
    if (old_desc && blk >= old_desc && blk < old_desc + old_blocks) {
      out->kind = FX_BLK_GROUP_DESC;
      return 1;
    }
    if (old_desc && blk >= old_desc + old_blocks && blk < old_desc + old_blocks + reserved) {
      out->kind = FX_BLK_RESERVED_GDT;
      return 1;
    }
    if (new_desc && blk == new_desc) {
      out->kind = FX_BLK_GROUP_DESC;
      return 1;
    }
    if (blk == ext2fs_block_bitmap_loc(fs, g)) {
      out->kind = FX_BLK_BLOCK_BITMAP;
      return 1;
    }
    if (blk == ext2fs_inode_bitmap_loc(fs, g)) {
      out->kind = FX_BLK_INODE_BITMAP;
      return 1;
    }
    blk64_t table = ext2fs_inode_table_loc(fs, g);
    if (table && blk >= table && blk < table + fs->inode_blocks_per_group) {
      out->kind = FX_BLK_INODE_TABLE;
      out->ino = (ext2_ino_t)(g * fs->super->s_inodes_per_group + (blk - table) * ipb + 1);
      out->last_ino = out->ino + ipb - 1;
      return 1;
    }
  }
  return 0;
}

/* --- what the files on an image map --------------------------------------------------------- */

typedef struct owner_walk {
  fx_owners *o;
  ext2_ino_t ino;
  int data_kind; /* what the inode's data blocks are: FX_BLK_DATA, _DIR, _SYMLINK, _JOURNAL */
  int extents;
} owner_walk;

static int own_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk, int ref_offset,
                     void *priv) {
  (void)fs, (void)ref_blk, (void)ref_offset;
  owner_walk *w = priv;
  if (*blocknr >= w->o->n || w->o->v[*blocknr].kind) return 0; /* out of range, or already claimed */
  fx_owner *x = &w->o->v[*blocknr];
  x->ino = w->ino;
  if (blockcnt >= 0) {
    x->kind = (unsigned char)w->data_kind;
    x->lblk = (unsigned long long)blockcnt;
  } else if (w->extents) {
    x->kind = FX_BLK_EXTENT_NODE;
  } else {
    x->kind = FX_BLK_INDIRECT;
    x->level = (unsigned char)(blockcnt == BLOCK_COUNT_IND ? 1 : blockcnt == BLOCK_COUNT_DIND ? 2 : 3);
  }
  return 0;
}

errcode_t fx_owners_of(fx_disk *d, fx_owners *out) {
  memset(out, 0, sizeof *out);
  ext2_filsys fs;
  errcode_t rc = fx_open_quiet(d, &fs);
  if (rc) return rc;
  out->n = ext2fs_blocks_count(fs->super);
  out->v = calloc(out->n ? out->n : 1, sizeof *out->v);
  if (!out->v) rc = EXT2_ET_NO_MEMORY;
  /* Every inode by number, not an inode scan: a scan skips what the group descriptors on disk
   * call unused, and those are only as new as the last flush. In use: linked and not deleted. */
  struct ext2_inode inode;
  for (ext2_ino_t ino = 1; !rc && ino <= fs->super->s_inodes_count; ino++) {
    if (ext2fs_read_inode(fs, ino, &inode)) {
      out->incomplete = 1;
      continue;
    }
    if (!inode.i_links_count || inode.i_dtime) continue;
    blk64_t acl = ext2fs_file_acl_block(fs, &inode);
    if (acl && acl < out->n && !out->v[acl].kind) out->v[acl] = (fx_owner){FX_BLK_XATTR, 0, ino, 0};
    if (!ext2fs_inode_has_valid_blocks2(fs, &inode)) continue;
    owner_walk w = {out, ino, FX_BLK_DATA, (inode.i_flags & EXT4_EXTENTS_FL) != 0};
    if (LINUX_S_ISDIR(inode.i_mode)) w.data_kind = FX_BLK_DIR;
    else if (LINUX_S_ISLNK(inode.i_mode)) w.data_kind = FX_BLK_SYMLINK;
    else if (ino == fs->super->s_journal_inum) w.data_kind = FX_BLK_JOURNAL;
    if (ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY, NULL, own_block, &w)) out->incomplete = 1;
  }
  ext2fs_free(fs);
  if (rc) fx_owners_free(out);
  return rc;
}

void fx_owners_free(fx_owners *o) {
  free(o->v);
  memset(o, 0, sizeof *o);
}

/* --- a block, now ------------------------------------------------------------------------------ */

static int looks_like_extent_node(const void *p) {
  const unsigned char *b = p;
  return b && b[0] == (EXT3_EXT_MAGIC & 0xFF) && b[1] == (EXT3_EXT_MAGIC >> 8);
}

void fx_block_kind(fx_engine *e, unsigned long long blk, const void *data, fx_block_info *out) {
  memset(out, 0, sizeof *out);
  out->blk = blk;
  if (!e->fs) return;
  if (layout_kind(e->fs, blk, out)) return;
  out->group = 0;
  /* What the disk's files map, walked again when the disk has changed since. */
  if (!e->owners.made || e->owners.version != e->disk.version) {
    fx_owners_free(&e->owners);
    fx_owners_of(&e->disk, &e->owners); /* on failure v stays NULL: kinds unknown */
    e->owners.made = 1;
    e->owners.version = e->disk.version;
  }
  if (e->owners.v && blk < e->owners.n && e->owners.v[blk].kind) {
    const fx_owner *x = &e->owners.v[blk];
    out->kind = x->kind;
    out->level = x->level;
    out->ino = x->ino;
    out->lblk = x->lblk;
    return;
  }
  /* Not mapped on disk: allocated in this scenario (the latest allocation first)? */
  for (int i = e->n_allocs - 1; i >= 0; i--) {
    const fx_alloc *a = &e->allocs[i];
    if (blk < a->blk || blk >= a->blk + a->count) continue;
    unsigned char now[2] = {0, 0};
    if (!data && fx_disk_read(&e->disk, blk * e->fs->blocksize, sizeof now, now) == 0) data = now;
    out->ino = a->ino;
    out->metadata = (unsigned char)a->metadata;
    /* A new extent tree node shows by its header (libext2fs labels some of them data). */
    out->kind = looks_like_extent_node(data) ? FX_BLK_EXTENT_NODE : FX_BLK_NEW;
    return;
  }
  out->kind = e->owners.v ? FX_BLK_FREE : FX_BLK_UNKNOWN;
}

static void describe_one(const fx_block_info *b, char *out, size_t size) {
  switch (b->kind) {
  case FX_BLK_SUPERBLOCK:
    if (b->group) snprintf(out, size, "superblock backup in group %u", b->group);
    else snprintf(out, size, "superblock");
    break;
  case FX_BLK_GROUP_DESC: snprintf(out, size, "group descriptors"); break;
  case FX_BLK_RESERVED_GDT: snprintf(out, size, "reserved group descriptor block"); break;
  case FX_BLK_BLOCK_BITMAP: snprintf(out, size, "block bitmap of group %u", b->group); break;
  case FX_BLK_INODE_BITMAP: snprintf(out, size, "inode bitmap of group %u", b->group); break;
  case FX_BLK_INODE_TABLE:
    snprintf(out, size, "inode table of group %u, inodes %u-%u", b->group, (unsigned)b->ino, (unsigned)b->last_ino);
    break;
  case FX_BLK_EXTENT_NODE: snprintf(out, size, "extent tree node of inode %u", (unsigned)b->ino); break;
  case FX_BLK_INDIRECT:
    snprintf(out, size, "%sindirect block of inode %u",
             b->level == 1   ? ""
             : b->level == 2 ? "double-"
                             : "triple-",
             (unsigned)b->ino);
    break;
  case FX_BLK_DIR:
    snprintf(out, size, "directory block of inode %u, file block %llu", (unsigned)b->ino, b->lblk);
    break;
  case FX_BLK_XATTR: snprintf(out, size, "xattr block of inode %u", (unsigned)b->ino); break;
  case FX_BLK_SYMLINK: snprintf(out, size, "symlink target of inode %u", (unsigned)b->ino); break;
  case FX_BLK_DATA: snprintf(out, size, "data of inode %u, file block %llu", (unsigned)b->ino, b->lblk); break;
  case FX_BLK_JOURNAL: snprintf(out, size, "journal"); break;
  case FX_BLK_NEW:
    snprintf(out, size, "allocated in this scenario as %s for inode %u, not mapped on disk",
             b->metadata ? "metadata" : "data", (unsigned)b->ino);
    break;
  case FX_BLK_FREE: snprintf(out, size, "free: nothing on disk maps it"); break;
  default: snprintf(out, size, "what it is could not be read"); break;
  }
}

void fx_block_describe(const fx_block_info *b, char *out, size_t size) {
  char what[160];
  describe_one(b, what, sizeof what);
  snprintf(out, size, "block %llu (%s)", b->blk, what);
}

/* --- what a scenario records -------------------------------------------------------------------- */

void fx_note_alloc(fx_engine *e, unsigned long long blk, unsigned long long count, ext2_ino_t ino, int metadata) {
  ext2_ino_t owner = ino ? ino : e->op_ino;
  /* A run of blocks allocated one at a time (the common case) is one entry, not one per block:
   * the log then fills with runs, not with a big write's blocks. */
  if (e->n_allocs) {
    fx_alloc *last = &e->allocs[e->n_allocs - 1];
    if (last->ino == owner && last->metadata == metadata && last->blk + last->count == blk) {
      last->count += count;
      return;
    }
  }
  if (e->n_allocs == e->cap_allocs) {
    int cap = e->cap_allocs ? 2 * e->cap_allocs : 64;
    fx_alloc *a = cap <= MAX_ALLOCS ? realloc(e->allocs, (size_t)cap * sizeof *a) : NULL;
    if (!a) {
      e->allocs_dropped++;
      return;
    }
    e->allocs = a;
    e->cap_allocs = cap;
  }
  e->allocs[e->n_allocs++] = (fx_alloc){blk, count, owner, metadata};
}

void fx_note_failed_io(fx_engine *e, int point, unsigned long long off, unsigned long long len, const void *data) {
  fx_failed_io f;
  memset(&f, 0, sizeof f);
  f.point = point;
  f.hit = e->hits[point];
  f.op = e->op;
  snprintf(f.op_kind, sizeof f.op_kind, "%s", e->op_kind);
  f.linking = e->linking;
  f.link_dir = e->link_dir;
  unsigned long long bs = e->fs ? e->fs->blocksize : 1024;
  if (len) {
    f.blk = off / bs;
    f.count = (off + len + bs - 1) / bs - f.blk;
  }
  for (unsigned long long k = 0; k < f.count && k < FX_IO_INFO; k++) {
    unsigned long long at = (f.blk + k) * bs; /* where the block starts, in the bytes `data` covers */
    const unsigned char *d = data && at >= off && at + 2 <= off + len ? (const unsigned char *)data + (at - off) : NULL;
    fx_block_kind(e, f.blk + k, d, &f.info[f.n_info++]);
  }
  if (e->n_failed == e->cap_failed) {
    int cap = e->cap_failed ? 2 * e->cap_failed : 8;
    fx_failed_io *v = cap <= MAX_FAILED ? realloc(e->failed, (size_t)cap * sizeof *v) : NULL;
    if (v) {
      e->failed = v;
      e->cap_failed = cap;
    }
  }
  if (e->n_failed < e->cap_failed) e->failed[e->n_failed++] = f;
  else e->failed_dropped++;
  if (!e->ctx || !e->ctx->trace) return;
  char line[700];
  fx_failed_io_describe(&f, line, sizeof line);
  e->ctx->trace(e->ctx->harness, line);
}

void fx_failed_io_describe(const fx_failed_io *f, char *out, size_t size) {
  int n = snprintf(out, size, "%s#%u failed", point_names[f->point], f->hit);
  if (n < 0 || (size_t)n >= size) return; /* cut: nothing more fits */
  if (!f->count) {
    snprintf(out + n, size - (size_t)n, " (a flush: no block)");
    return;
  }
  /* Each block's description, runs of the same kind merged: "blocks 40-43 (data of inode 12 ...)". */
  for (int i = 0; i < f->n_info && (size_t)n < size;) {
    int j = i + 1;
    while (j < f->n_info && f->info[j].kind == f->info[i].kind && f->info[j].ino == f->info[i].ino &&
           f->info[j].kind != FX_BLK_INODE_TABLE)
      j++;
    char what[160];
    describe_one(&f->info[i], what, sizeof what);
    if (j - i == 1)
      n += snprintf(out + n, size - (size_t)n, "%s block %llu (%s)", i ? "," : "", f->info[i].blk, what);
    else
      n += snprintf(out + n, size - (size_t)n, "%s blocks %llu-%llu (from %s)", i ? "," : "", f->info[i].blk,
                    f->info[j - 1].blk, what);
    i = j;
  }
  if ((size_t)n < size && f->count > (unsigned long long)f->n_info)
    n += snprintf(out + n, size - (size_t)n, " and %llu more blocks", f->count - (unsigned long long)f->n_info);
  if ((size_t)n < size && f->linking)
    snprintf(out + n, size - (size_t)n, ", while linking or unlinking inode %u in directory %u", (unsigned)f->linking,
             (unsigned)f->link_dir);
}

int fx_failed_io_inodes(const fx_failed_io *f, ext2_ino_t *ino, int max) {
  int n = 0;
  /* Inside ext2fs_link or ext2fs_unlink: the entry's inode and its directory, whatever block. */
  if (f->linking && n + 2 <= max) {
    ino[n++] = f->linking;
    ino[n++] = f->link_dir;
  }
  for (int i = 0; i < f->n_info; i++) {
    const fx_block_info *b = &f->info[i];
    switch (b->kind) {
    case FX_BLK_INODE_TABLE:
      for (ext2_ino_t k = b->ino; k <= b->last_ino && n < max; k++) ino[n++] = k;
      break;
    case FX_BLK_DIR:
    case FX_BLK_EXTENT_NODE:
    case FX_BLK_INDIRECT:
    case FX_BLK_XATTR:
    case FX_BLK_SYMLINK:
      if (n < max && b->ino) ino[n++] = b->ino;
      break;
    case FX_BLK_NEW:
      if (b->metadata && b->ino && n < max) ino[n++] = b->ino;
      break;
    default: break; /* layout blocks the close rewrites, file data, free or unknown blocks */
    }
  }
  return n;
}

void fx_blocks_free(fx_engine *e) {
  free(e->failed);
  free(e->allocs);
  fx_owners_free(&e->owners);
  e->failed = NULL;
  e->allocs = NULL;
  e->n_failed = e->cap_failed = e->n_allocs = e->cap_allocs = 0;
}
