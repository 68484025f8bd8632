/* Internal to the ext2fs engine: its configuration, instance state and the parts' interfaces. */
#ifndef FX_INTERNAL_H
#define FX_INTERNAL_H

#include <ext2fs/ext2fs.h>
#include <stddef.h>

#include "faultline.h"

/* Fault points, in catalog order. */
enum {
  FX_ALLOC_DATA,
  FX_ALLOC_METADATA,
  FX_ALLOC_RANGE,
  FX_IO_READ,
  FX_IO_WRITE,
  FX_IO_FLUSH,
  FX_IO_ZEROOUT,
  FX_N_POINTS
};

enum { FX_MAX_FILES = 16, FX_PATH = 256, FX_MAX_HANDLES = 8, FX_MAX_EXTENT_HANDLES = 32 };

/* A plan's setup section, parsed. */
typedef struct fx_config {
  unsigned long long size; /* bytes */
  int block_size;
  char features[256]; /* mke2fs -O list */
  int journal;
  unsigned inodes;
  int fragment_run; /* free space in runs of this many blocks; 0: not fragmented */
  struct {
    char path[FX_PATH];
    unsigned long long size;
    int sparse; /* write every other block: many extents, deep trees */
    int pattern;
  } files[FX_MAX_FILES];
  int n_files;
  char dirs[FX_MAX_FILES][FX_PATH];
  int n_dirs;
} fx_config;

/* A handle the engine holds open (a file or xattr handle), reported as a held resource. */
typedef struct fx_handle {
  int open;
  char what[FX_PATH + 32];
  char task[64];
  int op;
  char op_name[32];
} fx_handle;

/* fx_disk.c: a scenario's disk in memory, the setup's bytes under a copy-on-write overlay of
 * FX_PAGE-byte pages (every ext4 block size is a multiple). */
enum { FX_PAGE = 1024 };
typedef struct fx_disk {
  const unsigned char *base; /* the setup's image: shared, never written, lives as long as the process */
  size_t base_len;
  unsigned long long base_k1, base_k2; /* the base's content key (fx_disk_key_of) */
  size_t len;                          /* the image's length now: writes past the end grow it */
  unsigned char **pages;               /* n_pages entries: a page's private copy, or NULL */
  size_t n_pages;
  size_t *written; /* the pages with copies, in the order first written */
  size_t n_written, cap_written;
  unsigned long long version; /* bumped by every write: what was derived from the bytes is stale */
} fx_disk;
int fx_disk_init(fx_disk *d, const unsigned char *base, size_t len, unsigned long long k1, unsigned long long k2);
void fx_disk_free(fx_disk *d);
/* `n` bytes at `off`; past the end they read as zeros and the result is EXT2_ET_SHORT_READ. */
errcode_t fx_disk_read(const fx_disk *d, unsigned long long off, size_t n, void *out);
/* `n` bytes of `data` (zeros when NULL) at `off`. */
errcode_t fx_disk_write(fx_disk *d, unsigned long long off, size_t n, const void *data);
/* The image's content key: two 64-bit sums of per-page hashes (and the length). Equal bytes, equal
 * key, and fx_disk_key_of(flattened bytes) gives the same; fx_disk_key costs what the scenario
 * wrote. */
void fx_disk_key(const fx_disk *d, unsigned long long *k1, unsigned long long *k2);
void fx_disk_key_of(const unsigned char *bytes, size_t len, unsigned long long *k1, unsigned long long *k2);
void fx_page_hash(size_t index, const unsigned char *page, unsigned long long *k1, unsigned long long *k2);
/* The whole image, malloc'd (d->len bytes). */
unsigned char *fx_disk_flatten(const fx_disk *d);
/* A file descriptor (this thread's memfd, close-on-exec) holding exactly the image's bytes, for
 * e2fsck; -1 on failure. Valid until this thread exposes another disk. */
int fx_disk_expose(const fx_disk *d);

/* An extent handle libext2fs opened while the engine ran an operation (fx_handles.c). */
typedef struct fx_extent_handle {
  ext2_extent_handle_t handle; /* NULL: slot free */
  ext2_ino_t ino;
  char task[64];
  int op;
  char op_name[32];
} fx_extent_handle;

/* fx_blocks.c: what a block of the filesystem is (for the trace, and to tell which of e2fsck's
 * complaints a failed read or write explains). */
enum fx_block_kind {
  FX_BLK_UNKNOWN,
  FX_BLK_SUPERBLOCK,
  FX_BLK_GROUP_DESC,
  FX_BLK_RESERVED_GDT,
  FX_BLK_BLOCK_BITMAP,
  FX_BLK_INODE_BITMAP,
  FX_BLK_INODE_TABLE,
  FX_BLK_EXTENT_NODE, /* an extent tree node of `ino` */
  FX_BLK_INDIRECT,    /* an indirect block (`level` 1, 2, 3) of `ino` */
  FX_BLK_DIR,         /* a directory block of `ino` (file block `lblk`) */
  FX_BLK_XATTR,       /* the xattr block of `ino` */
  FX_BLK_SYMLINK,     /* the block holding the target of symlink `ino` */
  FX_BLK_DATA,        /* file data of `ino` (file block `lblk`) */
  FX_BLK_JOURNAL,
  FX_BLK_NEW,         /* allocated in this scenario for `ino`, not (yet) mapped on disk */
  FX_BLK_FREE,        /* in use by nothing on disk, and not allocated in this scenario */
};
typedef struct fx_block_info {
  unsigned long long blk;
  unsigned char kind;  /* enum fx_block_kind */
  unsigned char level; /* FX_BLK_INDIRECT: 1, 2, 3 */
  unsigned char metadata; /* FX_BLK_NEW: allocated as metadata (a tree node, a directory or xattr block) */
  unsigned group;      /* superblock, descriptors, bitmaps, inode table: the group */
  ext2_ino_t ino;      /* the owner; for an inode table block, its first inode */
  ext2_ino_t last_ino; /* an inode table block's last inode */
  unsigned long long lblk;
} fx_block_info;

/* An injected I/O failure, as the engine saw it. */
enum { FX_IO_INFO = 8 };
typedef struct fx_failed_io {
  int point; /* FX_IO_READ, FX_IO_WRITE, FX_IO_FLUSH, FX_IO_ZEROOUT */
  unsigned hit; /* the point's hit number, as the harness numbers it (io.write#7) */
  int op;       /* the engine's operation, 1-based, and its kind */
  char op_kind[16];
  unsigned long long blk, count; /* the filesystem blocks it covered (count 0: a flush) */
  ext2_ino_t linking, link_dir;  /* an ext2fs_link or ext2fs_unlink under way: the inode and directory */
  int n_info;                    /* the first blocks' kinds (of `count`) */
  fx_block_info info[FX_IO_INFO];
} fx_failed_io;

/* A block range allocated in this scenario, and for which inode (0: unknown). */
typedef struct fx_alloc {
  unsigned long long blk, count;
  ext2_ino_t ino;
  int metadata;
} fx_alloc;

/* What every block of the filesystem is, as one walk of an image found it. */
typedef struct fx_owner {
  unsigned char kind, level;
  ext2_ino_t ino;
  unsigned long long lblk;
} fx_owner;
typedef struct fx_owners {
  fx_owner *v; /* one per block; NULL: the walk could not be made */
  unsigned long long n;
  int made;
  unsigned long long version; /* the disk version it was made from */
  int incomplete;             /* some inode's blocks could not be walked */
} fx_owners;

typedef struct fx_engine {
  const fl_ctx *ctx;
  fx_config cfg;
  fx_disk disk;
  ext2_filsys fs;
  /* What happened, for classifying e2fsck's verdict: faults fired (in all, I/O ones), operations
   * that returned an error, and operations in which a fault fired that still returned success. */
  int faults_fired, io_faults_fired, ops_failed, swallowed;
  fx_handle handles[FX_MAX_HANDLES];
  fx_extent_handle extent_handles[FX_MAX_EXTENT_HANDLES];
  int extent_handles_untracked; /* opened while all slots were taken */
  /* Inside snapshot or verify: handles opened now are the engine's own. */
  int observing;
  /* Armed passes through each point: the harness counts exactly these (faultline.h), so this is
   * the hit number it gives them. */
  unsigned hits[FX_N_POINTS];
  /* The operation under way: its 1-based number, kind and the inode its path names (0: none). */
  int op;
  char op_kind[16];
  ext2_ino_t op_ino;
  char op_path[FX_PATH];
  /* An ext2fs_link or ext2fs_unlink under way (fx_handles.c). */
  ext2_ino_t linking, link_dir;
  /* Injected I/O failures and this scenario's allocations, for explaining e2fsck's complaints;
   * each bounded (what did not fit is counted, and then nothing is excused by a missing entry). */
  fx_failed_io *failed;
  int n_failed, cap_failed, failed_dropped;
  fx_alloc *allocs;
  int n_allocs, cap_allocs, allocs_dropped;
  fx_owners owners; /* of the disk now, made when a fault needs it */
} fx_engine;

/* fx_image.c */
int fx_parse_config(const char *json, fx_config *cfg, char *err, size_t err_len);
/* The image setup builds (made once per configuration and process, then shared): its bytes and
 * content key. 0 or an errno, with `err` saying what failed. */
int fx_setup_image(const char *setup_json, const fx_config *cfg, const unsigned char **bytes, size_t *len,
                   unsigned long long *k1, unsigned long long *k2, char *err, size_t err_len);
/* The same image written to the file `path` (the naive benchmark copies it per scenario). */
int fx_materialize(const char *setup_json, const fx_config *cfg, const char *path, char *err, size_t err_len);
/* The environment mke2fs and e2fsck run with: this process's, plus E2FSPROGS_FAKE_TIME (fixed
 * timestamps, so equal images are equal bytes) unless it is set already. Passed to the child
 * explicitly: library code never calls setenv, which races with other threads spawning
 * processes (they read environ while setenv reallocates it). A malloc'd array whose strings are
 * borrowed: free the array only. NULL when out of memory. */
char **fx_child_environ(void);

/* fx_io.c: an io_manager over the engine's fx_disk, with the I/O fault points. */
extern io_manager fx_io_manager;
/* The engine libext2fs is working for on this thread (its com_err messages go to its trace). */
void fx_running(fx_engine *e);
/* Once per process: libext2fs's error messages registered, its com_err output to the trace. */
void fx_library_init(void);
/* The engine fx_running named on this thread, or NULL; fx_not_running(e) when e goes. */
fx_engine *fx_running_engine(void);
void fx_not_running(fx_engine *e);

/* fx_handles.c: how many extent handles were opened through the interposed ext2fs_extent_open2,
 * libext2fs's own calls included. */
unsigned long fx_extent_handles_opened(void);
/* Opens `e->disk` read-write through fx_io_manager and installs the allocator hooks. */
errcode_t fx_open(fx_engine *e);
/* Opens `d` read-only through fx_io_manager with no fault point, no hook and checksum errors
 * ignored: for looking at the bytes as they are (the engine's own fs is left alone). */
errcode_t fx_open_quiet(fx_disk *d, ext2_filsys *fs);

/* fx_blocks.c */
/* What block `blk` is now: the filesystem's layout (from `e->fs`), what the disk's files map
 * (e->owners, remade when the disk changed), this scenario's allocations, and, for a block
 * being written, what `data` holds (NULL: unknown). */
void fx_block_kind(fx_engine *e, unsigned long long blk, const void *data, fx_block_info *out);
/* "block 35 (inode table of group 0, inodes 13-16)". */
void fx_block_describe(const fx_block_info *b, char *out, size_t size);
/* Records an injected failure of `point` over bytes [off, off + len) (len 0: a flush), with what
 * those blocks are, and says it in the trace ("io.write#7 failed block 35 (inode table ...)"). */
void fx_note_failed_io(fx_engine *e, int point, unsigned long long off, unsigned long long len, const void *data);
/* Records blocks [blk, blk + count) allocated for inode `ino` (0: the operation's own). */
void fx_note_alloc(fx_engine *e, unsigned long long blk, unsigned long long count, ext2_ino_t ino, int metadata);
/* Walks the image on `d` and says what each block is; 0 or an errcode. */
errcode_t fx_owners_of(fx_disk *d, fx_owners *out);
void fx_owners_free(fx_owners *o);
/* "io.write#7 failed block 35 (inode table of group 0, inodes 13-16)". */
void fx_failed_io_describe(const fx_failed_io *f, char *out, size_t size);
/* What a failed I/O concerns: the inodes whose structures its blocks held (an inode table
 * block's inodes; the owner of an extent tree node, indirect, directory, xattr or symlink block
 * or of a block newly allocated as metadata), and the inode and directory of a link or unlink
 * under way; into `ino`, at most `max`. Superblocks, descriptors and bitmaps (which the close
 * writes again from memory) and file data concern none. */
int fx_failed_io_inodes(const fx_failed_io *f, ext2_ino_t *ino, int max);
void fx_blocks_free(fx_engine *e);

/* A growing string. When memory runs out, `failed` is set and what follows is dropped: a
 * writer whose output must be whole checks it. */
typedef struct fx_buf {
  char *s;
  size_t len, cap;
  int failed;
} fx_buf;
void fx_put(fx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fx_put_json_string(fx_buf *b, const char *s);
/* Writing in place, for the snapshot's hot loops: room for `n` more bytes (NULL when out of
 * memory), written through the returned pointer, then fx_commit with where the writing ended. */
char *fx_reserve(fx_buf *b, size_t n);
void fx_commit(fx_buf *b, char *end);
/* The decimal digits of `v` at `p`; returns the end. */
char *fx_u64(char *p, unsigned long long v);
#define FX_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* fx_snapshot.c */
/* The names under a filesystem's root, listed as the snapshot lists them: at most fx_max_names
 * (FX_MAX_NAMES; tests lower it), and more is said in the snapshot's "unreadable". */
enum { FX_MAX_NAMES = 1 << 16 };
extern int fx_max_names;
typedef struct fx_name {
  char path[FX_PATH];
  ext2_ino_t ino;
  int unreadable; /* its inode could not be read (said in the snapshot's "unreadable") */
} fx_name;
typedef struct fx_names {
  fx_name *v;
  int n, cap;
  int truncated; /* more than fx_max_names */
  int oom;
} fx_names;
void fx_names_free(fx_names *names);
char *fx_snapshot(fx_engine *e);
char *fx_verify(fx_engine *e);
/* Runs e2fsck -fn on the disk's bytes (a memfd the child sees as its descriptor 3 or 4), reading
 * all it writes (the first FX_FSCK_KEEP bytes into `out`, then a line saying how many more) until
 * it exits; kills and reaps it after FAULTLINE_EXT2FS_FSCK_TIMEOUT seconds (default 120). Its exit
 * status, or FX_FSCK_NOT_RUN (it could not start, or died of a signal) or FX_FSCK_TIMED_OUT. */
enum { FX_FSCK_NOT_RUN = -1, FX_FSCK_TIMED_OUT = -2, FX_FSCK_KEEP = 1 << 20 };
int fx_run_e2fsck(const fx_disk *d, fx_buf *out);

/* fx_ops.c */
int fx_perform(fx_engine *e, const char *op_json, fl_buf *out);
/* What a read allocates a file's bytes with: calloc (tests put a failing one here). */
extern void *(*fx_calloc)(size_t n, size_t size);
int fx_errno(fx_engine *e, errcode_t code, const char *what);

#endif
