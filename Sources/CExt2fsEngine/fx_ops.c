/* The ext2fs engine's operations, each the way a libext2fs user (fuse2fs, debugfs) performs it.
 * Every handle the engine opens is recorded while open, so one left open shows as held. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_internal.h"
#include "fx_json.h"

int fx_errno(fx_engine *e, errcode_t code, const char *what) {
  if (code == 0) return 0;
  if (e && e->ctx) {
    char line[512];
    snprintf(line, sizeof line, "ext2fs: %s: %s (%ld)", what, error_message(code), (long)code);
    e->ctx->trace(e->ctx->harness, line);
  }
  if (code > 0 && code < 256 && code != EOVERFLOW) return (int)code;
  switch (code) {
  case EXT2_ET_BLOCK_ALLOC_FAIL:
  case EXT2_ET_INODE_ALLOC_FAIL:
  case EXT2_ET_DIR_NO_SPACE:
  case EXT2_ET_DIR_NO_SPACE_FOR_CSUM:
  case EXT2_ET_EA_NO_SPACE:
    return ENOSPC;
  case EXT2_ET_NO_MEMORY: return ENOMEM;
  case EXT2_ET_FILE_NOT_FOUND: return ENOENT;
  case EXT2_ET_DIR_EXISTS:
  case EXT2_ET_FILE_EXISTS: /* ext2fs_symlink's, and link's below: the name is taken */
    return EEXIST;
  /* ext2fs_iblk_sub_blocks (i_block.c): freeing more blocks than i_blocks counts, which only an
   * inode whose accounting is already wrong does (after a failed operation, mechanisms A and B/G
   * of Plans/ext2fs/README.md). fuse2fs hands the raw errno on; no truncate(2), fallocate(2) or
   * unlink(2) returns EOVERFLOW: the kernel's word for accounting it finds corrupt is EUCLEAN. */
  case EOVERFLOW: return EUCLEAN;
  case EXT2_ET_FILE_TOO_BIG: return EFBIG;
  case EXT2_ET_EA_KEY_NOT_FOUND: return ENODATA;
  /* The library's names for a failed read or write of its structures: the device said EIO. */
  case EXT2_ET_SHORT_READ:
  case EXT2_ET_SHORT_WRITE:
  case EXT2_ET_GDESC_READ:
  case EXT2_ET_GDESC_WRITE:
  case EXT2_ET_INODE_BITMAP_READ:
  case EXT2_ET_INODE_BITMAP_WRITE:
  case EXT2_ET_BLOCK_BITMAP_READ:
  case EXT2_ET_BLOCK_BITMAP_WRITE:
  case EXT2_ET_INODE_TABLE_READ:
  case EXT2_ET_INODE_TABLE_WRITE:
  case EXT2_ET_NEXT_INODE_READ:
    return EIO;
  default: return EUCLEAN; /* the library found its structures corrupt, or another library error */
  }
}

static int held(fx_engine *e, const char *what) {
  for (int i = 0; i < FX_MAX_HANDLES; i++) {
    fx_handle *h = &e->handles[i];
    if (h->open) continue;
    h->open = 1;
    snprintf(h->what, sizeof h->what, "%s", what);
    if (e->ctx) {
      snprintf(h->task, sizeof h->task, "%s", e->ctx->task(e->ctx->harness));
      h->op = e->ctx->op_index(e->ctx->harness);
      snprintf(h->op_name, sizeof h->op_name, "%s", e->ctx->op_name(e->ctx->harness));
    }
    return i;
  }
  return -1;
}

static void released(fx_engine *e, int slot) {
  if (slot >= 0) e->handles[slot].open = 0;
}

static errcode_t parent_of(ext2_filsys fs, const char *path, ext2_ino_t *parent, char *name, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash || !slash[1]) return EXT2_ET_FILE_NOT_FOUND;
  snprintf(name, len, "%s", slash + 1);
  if (slash == path) {
    *parent = EXT2_ROOT_INO;
    return 0;
  }
  char dir[FX_PATH];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  return ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, dir, parent);
}

/* 0 when `name` is free in `dir`; `taken` (EXT2_ET_FILE_EXISTS or EXT2_ET_DIR_EXISTS) when it is
 * not, or the lookup's error. The VFS checks this before link(2), mkdir(2) and symlink(2) reach a
 * filesystem (fuse2fs's handlers are never called for a taken name), and libext2fs does not:
 * ext2fs_link adds a duplicate entry, and ext2fs_mkdir and ext2fs_symlink look the name up only
 * after writing the new inode, whose cleanup then frees it in the bitmaps while the inode on
 * disk stays in use (e2fsck: "Unattached inode", "+16"), as in mechanism I of Plans/ext2fs/README.md. */
static errcode_t name_free(ext2_filsys fs, ext2_ino_t dir, const char *name, errcode_t taken) {
  ext2_ino_t ino;
  errcode_t rc = ext2fs_lookup(fs, dir, name, (int)strlen(name), NULL, &ino);
  if (rc == EXT2_ET_FILE_NOT_FOUND) return 0;
  return rc ? rc : taken;
}

/* Links `ino` as `name` in `dir`, expanding the directory when it is full (as mke2fs and fuse2fs do). */
static errcode_t link_expanding(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino, int type) {
  errcode_t rc = ext2fs_link(fs, dir, name, ino, type);
  if (rc == EXT2_ET_DIR_NO_SPACE) {
    if ((rc = ext2fs_expand_dir(fs, dir))) return rc;
    rc = ext2fs_link(fs, dir, name, ino, type);
  }
  return rc;
}

static errcode_t create_file(fx_engine *e, const char *path) {
  ext2_filsys fs = e->fs;
  ext2_ino_t parent, ino;
  char name[FX_PATH];
  errcode_t rc = parent_of(fs, path, &parent, name, sizeof name);
  if (rc) return rc;
  if (ext2fs_lookup(fs, parent, name, (int)strlen(name), NULL, &ino) == 0) return EXT2_ET_DIR_EXISTS;
  if ((rc = ext2fs_new_inode(fs, parent, LINUX_S_IFREG | 0644, NULL, &ino))) return rc;
  if ((rc = link_expanding(fs, parent, name, ino, EXT2_FT_REG_FILE))) return rc;
  ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
  struct ext2_inode inode;
  memset(&inode, 0, sizeof inode);
  inode.i_mode = LINUX_S_IFREG | 0644;
  inode.i_links_count = 1;
  if (ext2fs_has_feature_extents(fs->super)) {
    inode.i_flags |= EXT4_EXTENTS_FL;
    ext2_extent_handle_t h;
    if ((rc = ext2fs_extent_open2(fs, ino, &inode, &h))) return rc;
    ext2fs_extent_free(h);
  }
  return ext2fs_write_new_inode(fs, ino, &inode);
}

/* What a write puts in the file: `pattern` in every byte, or, when the operation has a
 * generation, the stamped bytes of faultline.h (file, offset and write in every byte). */
typedef struct fill {
  int pattern;
  int stamped;
  uint32_t file_id, generation;
} fill;

static errcode_t write_file(fx_engine *e, ext2_ino_t ino, const char *path, unsigned long long off,
                            unsigned long long len, fill with) {
  ext2_file_t file;
  errcode_t rc = ext2fs_file_open(e->fs, ino, EXT2_FILE_WRITE, &file);
  if (rc) return rc;
  char what[FX_PATH + 32];
  snprintf(what, sizeof what, "file handle %s", path);
  int slot = held(e, what);
  unsigned char buf[4096];
  if (!with.stamped) memset(buf, with.pattern, sizeof buf);
  rc = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
  unsigned long long done = 0;
  for (int guard = 0; !rc && done < len && guard < 1 << 20; guard++) {
    unsigned int n = (unsigned int)(len - done < sizeof buf ? len - done : sizeof buf), wrote = 0;
    /* Stamped from where this chunk lands (a short write leaves the rest to the next chunk). */
    if (with.stamped) fl_stamp_fill_units(buf, n, off + done, with.file_id, with.generation, (uint8_t)with.pattern);
    rc = ext2fs_file_write(file, buf, n, &wrote);
    done += wrote;
    if (!rc && wrote == 0) rc = EXT2_ET_SHORT_WRITE;
  }
  errcode_t c = ext2fs_file_close(file);
  released(e, slot);
  return rc ? rc : c;
}

void *(*fx_calloc)(size_t n, size_t size) = calloc;

/* A file's bytes: a regular file's data, a directory's blocks as they are, a symlink's target. */
static errcode_t read_file(fx_engine *e, ext2_ino_t ino, const char *path, fl_buf *out) {
  struct ext2_inode inode;
  errcode_t rc = ext2fs_read_inode(e->fs, ino, &inode);
  if (rc) return rc;
  if (ext2fs_is_fast_symlink(&inode)) {
    /* The target lives in the inode's block map: there are no blocks to read through a file handle. */
    size_t size = (size_t)EXT2_I_SIZE(&inode);
    if (size > sizeof inode.i_block) return EXT2_ET_INODE_CORRUPTED;
    out->data = fx_calloc(size ? size : 1, 1);
    if (!out->data) return EXT2_ET_NO_MEMORY;
    memcpy(out->data, inode.i_block, size);
    out->len = size;
    return 0;
  }
  ext2_file_t file;
  if ((rc = ext2fs_file_open(e->fs, ino, 0, &file))) return rc;
  char what[FX_PATH + 32];
  snprintf(what, sizeof what, "file handle %s", path);
  int slot = held(e, what);
  __u64 size = 0;
  ext2fs_file_get_lsize(file, &size);
  out->data = fx_calloc(size ? size : 1, 1);
  out->len = out->data ? (size_t)size : 0;
  if (!out->data) rc = EXT2_ET_NO_MEMORY; /* no bytes is an error, never an empty success */
  unsigned int got = 0;
  size_t done = 0;
  for (int guard = 0; out->data && !rc && done < size && guard < 1 << 20; guard++) {
    unsigned int n = size - done > (1u << 20) ? (1u << 20) : (unsigned int)(size - done);
    rc = ext2fs_file_read(file, out->data + done, n, &got);
    if (!rc && got == 0) break;
    done += got;
  }
  errcode_t c = ext2fs_file_close(file);
  released(e, slot);
  return rc ? rc : c;
}

static int fallocate_flags(const char *mode) {
  int flags = 0;
  if (!mode) return 0;
  if (strstr(mode, "zero-blocks")) flags |= EXT2_FALLOCATE_ZERO_BLOCKS;
  if (strstr(mode, "force-init")) flags |= EXT2_FALLOCATE_FORCE_INIT;
  if (strstr(mode, "force-uninit")) flags |= EXT2_FALLOCATE_FORCE_UNINIT;
  if (strstr(mode, "init-beyond-eof")) flags |= EXT2_FALLOCATE_INIT_BEYOND_EOF;
  return flags;
}

static errcode_t unlink_path(fx_engine *e, const char *path, ext2_ino_t ino) {
  ext2_filsys fs = e->fs;
  ext2_ino_t parent;
  char name[FX_PATH];
  errcode_t rc = parent_of(fs, path, &parent, name, sizeof name);
  if (rc) return rc;
  struct ext2_inode inode;
  if ((rc = ext2fs_read_inode(fs, ino, &inode))) return rc;
  if (LINUX_S_ISDIR(inode.i_mode)) return EISDIR;
  if ((rc = ext2fs_unlink(fs, parent, name, ino, 0))) return rc;
  if (inode.i_links_count > 0) inode.i_links_count--;
  if (inode.i_links_count == 0) {
    /* The last name: free the blocks, the xattr block, the inode (what fuse2fs's remove_inode does). */
    if (ext2fs_inode_has_valid_blocks2(fs, &inode) &&
        (rc = ext2fs_punch(fs, ino, &inode, NULL, 0, ~0ULL)))
      return rc;
    struct ext2_inode_large large;
    memset(&large, 0, sizeof large);
    memcpy(&large, &inode, sizeof inode);
    if ((rc = ext2fs_free_ext_attr(fs, ino, &large))) return rc;
    memcpy(&inode, &large, sizeof inode);
    inode.i_dtime = (__u32)fs->now;
    ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
  }
  return ext2fs_write_inode(fs, ino, &inode);
}

static errcode_t xattr(fx_engine *e, ext2_ino_t ino, const char *path, const char *key, const char *value) {
  struct ext2_xattr_handle *h;
  errcode_t rc = ext2fs_xattrs_open(e->fs, ino, &h);
  if (rc) return rc;
  char what[FX_PATH + 32];
  snprintf(what, sizeof what, "xattr handle %s", path);
  int slot = held(e, what);
  rc = ext2fs_xattrs_read(h);
  if (!rc) rc = value ? ext2fs_xattr_set(h, key, value, strlen(value)) : ext2fs_xattr_remove(h, key);
  errcode_t c = ext2fs_xattrs_close(&h);
  released(e, slot);
  return rc ? rc : c;
}

int fx_perform(fx_engine *e, const char *op_json, fl_buf *out) {
  fx_json *op = fx_json_parse(op_json);
  if (!op) return EINVAL;
  const char *kind = fx_json_string(op, "kind"), *path = fx_json_string(op, "path");
  unsigned long long off = 0, len = 0, pattern = 0xA5, size = 0, generation = 0;
  int stamped = fx_json_number(op, "generation", &generation);
  fx_json_number(op, "offset", &off);
  fx_json_number(op, "length", &len);
  fx_json_number(op, "pattern", &pattern);
  fx_json_number(op, "size", &size);
  const char *target = fx_json_string(op, "target"), *name = fx_json_string(op, "name");
  const char *value = fx_json_string(op, "value"), *mode = fx_json_string(op, "mode");
  ext2_filsys fs = e->fs;
  errcode_t rc = 0;
  int result = 0;
  int fired_before = e->faults_fired;
  ext2_ino_t ino = 0;
  if (!kind || !path || !fs) {
    fx_json_free(op);
    return EINVAL;
  }
  fill written = {(int)(pattern & 0xFF), stamped, fl_stamp_file_id(path), (uint32_t)generation};
  const fill zeros = {0, 0, 0, 0};
  /* What is under way, for the failed I/O and allocations this operation records. */
  e->op++;
  snprintf(e->op_kind, sizeof e->op_kind, "%s", kind);
  snprintf(e->op_path, sizeof e->op_path, "%s", path);
  e->op_ino = 0;
  unsigned long long bs = fs->blocksize;
  if (strcmp(kind, "create") == 0) {
    rc = create_file(e, path);
  } else if (strcmp(kind, "mkdir") == 0) {
    ext2_ino_t parent;
    char leaf[FX_PATH];
    rc = parent_of(fs, path, &parent, leaf, sizeof leaf);
    if (!rc) rc = name_free(fs, parent, leaf, EXT2_ET_DIR_EXISTS);
    if (!rc) {
      rc = ext2fs_mkdir(fs, parent, 0, leaf);
      if (rc == EXT2_ET_DIR_NO_SPACE && !(rc = ext2fs_expand_dir(fs, parent))) rc = ext2fs_mkdir(fs, parent, 0, leaf);
    }
  } else if (strcmp(kind, "symlink") == 0) {
    ext2_ino_t parent;
    char leaf[FX_PATH];
    rc = parent_of(fs, path, &parent, leaf, sizeof leaf);
    if (!rc) rc = name_free(fs, parent, leaf, EXT2_ET_FILE_EXISTS);
    if (!rc) {
      rc = ext2fs_symlink(fs, parent, 0, leaf, target ? target : "");
      if (rc == EXT2_ET_DIR_NO_SPACE && !(rc = ext2fs_expand_dir(fs, parent)))
        rc = ext2fs_symlink(fs, parent, 0, leaf, target ? target : "");
    }
  } else if (strcmp(kind, "fsync") == 0) {
    rc = ext2fs_flush(fs);
  } else if ((rc = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, strcmp(kind, "link") == 0 ? target : path, &ino))) {
    /* every other operation names an existing file */
  } else if ((e->op_ino = ino), strcmp(kind, "write") == 0) {
    rc = write_file(e, ino, path, off, len, written);
  } else if (strcmp(kind, "append") == 0) {
    struct ext2_inode inode;
    if (!(rc = ext2fs_read_inode(fs, ino, &inode))) rc = write_file(e, ino, path, EXT2_I_SIZE(&inode), len, written);
  } else if (strcmp(kind, "read") == 0) {
    rc = read_file(e, ino, path, out);
  } else if (strcmp(kind, "truncate") == 0) {
    ext2_file_t file;
    if (!(rc = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file))) {
      int slot = held(e, "file handle (truncate)");
      rc = ext2fs_file_set_size2(file, size);
      errcode_t c = ext2fs_file_close(file);
      released(e, slot);
      if (!rc) rc = c;
    }
  } else if (strcmp(kind, "punch") == 0) {
    /* Whole blocks inside the range are freed; the parts of blocks at its edges, within the
     * file's size, are zeroed (a punch never extends a file). */
    struct ext2_inode inode;
    if (!(rc = ext2fs_read_inode(fs, ino, &inode))) {
      unsigned long long start = off, stop = off + len, isize = EXT2_I_SIZE(&inode);
      unsigned long long first = (start + bs - 1) / bs, end = stop / bs;
      unsigned long long zstop = stop < isize ? stop : isize;
      if (first > end) {
        if (start < zstop) rc = write_file(e, ino, path, start, zstop - start, zeros);
      } else {
        unsigned long long a = first * bs < zstop ? first * bs : zstop;
        if (start < a) rc = write_file(e, ino, path, start, a - start, zeros);
        if (!rc && end * bs < zstop) rc = write_file(e, ino, path, end * bs, zstop - end * bs, zeros);
        if (!rc && end > first && !(rc = ext2fs_read_inode(fs, ino, &inode))) {
          if (!(rc = ext2fs_punch(fs, ino, &inode, NULL, first, end - 1))) rc = ext2fs_write_inode(fs, ino, &inode);
        }
      }
    }
  } else if (strcmp(kind, "fallocate") == 0) {
    struct ext2_inode inode;
    if (!(rc = ext2fs_read_inode(fs, ino, &inode)) && !(inode.i_flags & EXT4_EXTENTS_FL) && mode &&
        strstr(mode, "keep-size")) {
      /* A block map has no unwritten blocks: ext2fs_fallocate maps initialized ones past EOF,
       * which e2fsck calls a wrong i_size. ext4_fallocate refuses every non-extent file. */
      rc = EOPNOTSUPP;
    } else if (!rc) {
      unsigned long long first = off / bs, last = (off + len + bs - 1) / bs;
      rc = ext2fs_fallocate(fs, fallocate_flags(mode), ino, &inode, ~0ULL, first, last - first);
      /* As fuse2fs does: running out of space is a partial result (what was mapped stays, and
       * fallocate(2) without FALLOC_FL_KEEP_SIZE still extends the size); any other error leaves
       * the inode unwritten. */
      if (rc == 0 || rc == EXT2_ET_BLOCK_ALLOC_FAIL) {
        errcode_t s = 0;
        if (!(mode && strstr(mode, "keep-size")) && off + len > EXT2_I_SIZE(&inode))
          s = ext2fs_inode_size_set(fs, &inode, off + len);
        errcode_t w = s ? s : ext2fs_write_inode(fs, ino, &inode);
        if (!rc) rc = w;
      }
    }
  } else if (strcmp(kind, "link") == 0) {
    ext2_ino_t parent;
    char leaf[FX_PATH];
    struct ext2_inode inode;
    if (!(rc = parent_of(fs, path, &parent, leaf, sizeof leaf)) && !(rc = ext2fs_read_inode(fs, ino, &inode))) {
      if (LINUX_S_ISDIR(inode.i_mode)) {
        rc = EPERM;
      } else if ((rc = name_free(fs, parent, leaf, EXT2_ET_FILE_EXISTS))) {
        /* taken, or the directory could not be read */
      } else if (!(rc = link_expanding(fs, parent, leaf, ino, EXT2_FT_REG_FILE))) {
        inode.i_links_count++;
        rc = ext2fs_write_inode(fs, ino, &inode);
      }
    }
  } else if (strcmp(kind, "unlink") == 0) {
    rc = unlink_path(e, path, ino);
  } else if (strcmp(kind, "setxattr") == 0) {
    rc = xattr(e, ino, path, name ? name : "", value ? value : "");
  } else if (strcmp(kind, "removexattr") == 0) {
    rc = xattr(e, ino, path, name ? name : "", NULL);
  } else {
    result = EINVAL;
  }
  if (rc) result = fx_errno(e, rc, kind);
  if (result) e->ops_failed++;
  else if (e->faults_fired > fired_before) e->swallowed++;
  fx_json_free(op);
  return result;
}
