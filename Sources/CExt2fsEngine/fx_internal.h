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

enum { FX_MAX_FILES = 16, FX_PATH = 256, FX_MAX_HANDLES = 8 };

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

typedef struct fx_engine {
  const fl_ctx *ctx;
  fx_config cfg;
  char image[FX_PATH];
  ext2_filsys fs;
  /* What happened, for classifying e2fsck's verdict: faults fired (in all, I/O ones), operations
   * that returned an error, and operations in which a fault fired that still returned success. */
  int faults_fired, io_faults_fired, ops_failed, swallowed;
  fx_handle handles[FX_MAX_HANDLES];
} fx_engine;

/* fx_image.c */
int fx_parse_config(const char *json, fx_config *cfg, char *err, size_t err_len);
/* The image setup builds (cached per configuration), written to `path`. 0 or an errno. */
int fx_materialize(const char *setup_json, const fx_config *cfg, const char *path, char *err, size_t err_len);

/* fx_io.c: an io_manager wrapping unix_io_manager with the I/O fault points. */
extern io_manager fx_io_manager;
/* The engine libext2fs is working for on this thread (its com_err messages go to its trace). */
void fx_running(fx_engine *e);
/* Opens `e->image` read-write through fx_io_manager and installs the allocator hooks. */
errcode_t fx_open(fx_engine *e);

/* fx_snapshot.c */
char *fx_snapshot(fx_engine *e);
char *fx_verify(fx_engine *e);

/* fx_ops.c */
int fx_perform(fx_engine *e, const char *op_json, fl_buf *out);
int fx_errno(fx_engine *e, errcode_t code, const char *what);

/* A growing string. */
typedef struct fx_buf {
  char *s;
  size_t len, cap;
} fx_buf;
void fx_put(fx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fx_put_json_string(fx_buf *b, const char *s);
void fx_put_raw(fx_buf *b, const char *s, size_t n);
void fx_put_u64(fx_buf *b, unsigned long long v);
#define FX_PUT_LIT(b, lit) fx_put_raw((b), (lit), sizeof(lit) - 1)

#endif
