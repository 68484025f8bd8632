/* Images: a plan's setup section parsed, the filesystem made with mke2fs and built by setup (free
 * space fragmented, directories, files with many extents), once per configuration and process;
 * each scenario's disk reads through to those bytes (fx_disk.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_internal.h"
#include "fx_json.h"

extern char **environ;

int fx_parse_config(const char *json, fx_config *cfg, char *err, size_t err_len) {
  memset(cfg, 0, sizeof *cfg);
  cfg->size = 4u << 20;
  cfg->block_size = 1024;
  snprintf(cfg->features, sizeof cfg->features, "extents,64bit");
  cfg->inodes = 256;
  fx_json *root = fx_json_parse(json);
  if (!root) {
    snprintf(err, err_len, "setup is not JSON");
    return 1;
  }
  int bad = 0;
  if (root->type == FX_JSON_OBJECT) {
    static const char *known[] = {"size", "block-size", "features", "journal", "inodes", "fragment", "dirs", "files"};
    for (const fx_json *m = root->child; m && !bad; m = m->next) {
      int ok = 0;
      for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= strcmp(m->key, known[i]) == 0;
      if (!ok) {
        snprintf(err, err_len, "setup.%s: expected one of size, block-size, features, journal, inodes, fragment, "
                               "dirs, files", m->key);
        bad = 1;
      }
    }
    unsigned long long v;
    if (!bad && fx_json_number(root, "size", &v)) {
      if (v < (1u << 20) || v > (256u << 20)) {
        snprintf(err, err_len, "setup.size: expected 1MiB to 256MiB, found %llu", v);
        bad = 1;
      }
      cfg->size = v;
    }
    if (!bad && fx_json_number(root, "block-size", &v)) {
      if (v != 1024 && v != 2048 && v != 4096) {
        snprintf(err, err_len, "setup.block-size: expected 1024, 2048 or 4096, found %llu", v);
        bad = 1;
      }
      cfg->block_size = (int)v;
    }
    if (!bad && fx_json_number(root, "journal", &v)) cfg->journal = (int)v;
    if (!bad && fx_json_number(root, "inodes", &v)) {
      if (v < 16 || v > 65536) {
        snprintf(err, err_len, "setup.inodes: expected 16 to 65536, found %llu", v);
        bad = 1;
      }
      cfg->inodes = (unsigned)v;
    }
    const fx_json *f = fx_json_get(root, "features");
    if (!bad && f && f->type == FX_JSON_ARRAY) {
      cfg->features[0] = 0;
      for (const fx_json *x = f->child; x; x = x->next) {
        if (x->type != FX_JSON_STRING || strchr(x->string, ',') || strchr(x->string, ' ')) {
          snprintf(err, err_len, "setup.features: expected a list of mke2fs feature names");
          bad = 1;
          break;
        }
        size_t n = strlen(cfg->features);
        snprintf(cfg->features + n, sizeof cfg->features - n, "%s%s", n ? "," : "", x->string);
      }
    }
    const fx_json *fr = fx_json_get(root, "fragment");
    if (!bad && fr) {
      if (!fx_json_number(fr, "run", &v) || v < 1 || v > 64) {
        snprintf(err, err_len, "setup.fragment: expected { run: N } with N from 1 to 64");
        bad = 1;
      } else {
        cfg->fragment_run = (int)v;
      }
    }
    const fx_json *dirs = fx_json_get(root, "dirs");
    for (const fx_json *d = dirs ? dirs->child : NULL; d && !bad; d = d->next) {
      if (d->type != FX_JSON_STRING || d->string[0] != '/' || cfg->n_dirs >= FX_MAX_FILES) {
        snprintf(err, err_len, "setup.dirs: expected up to %d absolute paths", FX_MAX_FILES);
        bad = 1;
        break;
      }
      snprintf(cfg->dirs[cfg->n_dirs++], FX_PATH, "%s", d->string);
    }
    const fx_json *files = fx_json_get(root, "files");
    for (const fx_json *x = files ? files->child : NULL; x && !bad; x = x->next) {
      const char *path = fx_json_string(x, "path");
      if (!path || path[0] != '/' || cfg->n_files >= FX_MAX_FILES) {
        snprintf(err, err_len, "setup.files: expected up to %d entries { path: /a, size: N, sparse: B }",
                 FX_MAX_FILES);
        bad = 1;
        break;
      }
      int i = cfg->n_files++;
      snprintf(cfg->files[i].path, FX_PATH, "%s", path);
      cfg->files[i].pattern = 0x5A;
      if (fx_json_number(x, "size", &v)) cfg->files[i].size = v;
      if (fx_json_number(x, "sparse", &v)) cfg->files[i].sparse = (int)v;
      if (fx_json_number(x, "pattern", &v)) cfg->files[i].pattern = (int)(v & 0xFF);
    }
  } else if (root->type != FX_JSON_NULL) {
    snprintf(err, err_len, "setup: expected a mapping");
    bad = 1;
  }
  fx_json_free(root);
  return bad;
}

char **fx_child_environ(void) {
  static const char fake_time[] = "E2FSPROGS_FAKE_TIME=1700000000";
  size_t n = 0;
  int have = 0;
  for (; environ && environ[n] && n < (1u << 20); n++)
    have |= strncmp(environ[n], "E2FSPROGS_FAKE_TIME=", 20) == 0;
  char **env = malloc((n + 2) * sizeof *env);
  if (!env) return NULL;
  if (n) memcpy(env, environ, n * sizeof *env);
  /* The caller's own E2FSPROGS_FAKE_TIME wins, as it did when this was setenv(..., 0). */
  if (!have) env[n++] = (char *)fake_time;
  env[n] = NULL;
  return env;
}

/* Runs argv, waits; the exit status, or -1 when it could not start. Output goes to /dev/null. */
static int run(char *const argv[]) {
  char **env = fx_child_environ();
  if (!env) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (rc != 0) return -1;
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static errcode_t lookup_parent(ext2_filsys fs, const char *path, ext2_ino_t *parent, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash + 1;
  if (slash == path) {
    *parent = EXT2_ROOT_INO;
    return 0;
  }
  char dir[FX_PATH];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  return ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, dir, parent);
}

/* Builds what setup describes on the open filesystem. Faults are not armed here. */
static errcode_t build(ext2_filsys fs, const fx_config *cfg, fx_engine *scratch) {
  errcode_t rc = 0;
  if (cfg->fragment_run > 0) {
    /* Fill free space with one file, then punch every other run: free space in runs. */
    char op[512];
    snprintf(op, sizeof op, "{\"kind\":\"create\",\"path\":\"/.fragment\"}");
    fl_buf out = {0};
    if ((rc = fx_perform(scratch, op, &out))) return rc;
    blk64_t free_blocks = ext2fs_free_blocks_count(fs->super);
    blk64_t fill = free_blocks > 64 ? free_blocks - 64 : 0;
    ext2_ino_t ino;
    if ((rc = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/.fragment", &ino))) return rc;
    struct ext2_inode inode;
    if ((rc = ext2fs_read_inode(fs, ino, &inode))) return rc;
    if ((rc = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino, &inode, ~0ULL, 0, fill))) return rc;
    if ((rc = ext2fs_inode_size_set(fs, &inode, fill * fs->blocksize))) return rc;
    if ((rc = ext2fs_write_inode(fs, ino, &inode))) return rc;
    blk64_t run = (blk64_t)cfg->fragment_run;
    for (blk64_t b = 0; b + run <= fill; b += 2 * run) {
      if ((rc = ext2fs_read_inode(fs, ino, &inode))) return rc;
      if ((rc = ext2fs_punch(fs, ino, &inode, NULL, b, b + run - 1))) return rc;
    }
  }
  for (int i = 0; i < cfg->n_dirs; i++) {
    ext2_ino_t parent;
    const char *name;
    if ((rc = lookup_parent(fs, cfg->dirs[i], &parent, &name))) return rc;
    rc = ext2fs_mkdir(fs, parent, 0, name);
    if (rc == EXT2_ET_DIR_NO_SPACE) {
      if ((rc = ext2fs_expand_dir(fs, parent))) return rc;
      rc = ext2fs_mkdir(fs, parent, 0, name);
    }
    if (rc) return rc;
  }
  for (int i = 0; i < cfg->n_files; i++) {
    char op[FX_PATH + 128];
    fl_buf out = {0};
    snprintf(op, sizeof op, "{\"kind\":\"create\",\"path\":\"%s\"}", cfg->files[i].path);
    if ((rc = fx_perform(scratch, op, &out))) return rc;
    /* A plain file is one write; a sparse one a block every other block (one extent each). */
    unsigned long long size = cfg->files[i].size, bs = (unsigned long long)cfg->block_size;
    unsigned long long chunk = cfg->files[i].sparse ? bs : size;
    for (unsigned long long off = 0; chunk && off < size; off += 2 * chunk) {
      unsigned long long len = chunk < size - off ? chunk : size - off;
      snprintf(op, sizeof op, "{\"kind\":\"write\",\"path\":\"%s\",\"offset\":%llu,\"length\":%llu,\"pattern\":%d}",
               cfg->files[i].path, off, len, cfg->files[i].pattern);
      if ((rc = fx_perform(scratch, op, &out))) return rc;
    }
  }
  return 0;
}

/* Per-process cache of built images, by setup JSON. Tests run scenarios on several threads.
 * Entries are never freed: scenarios' disks read through to them. */
typedef struct cached {
  char *key;
  unsigned char *bytes;
  size_t len;
  unsigned long long k1, k2;
} cached;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached cache[256];
static int cache_n;

static int write_all(const char *path, const unsigned char *bytes, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return errno;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, bytes + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return e;
    }
    done += (size_t)n;
  }
  return close(fd) == 0 ? 0 : errno;
}

static int read_all(const char *path, unsigned char **bytes, size_t *len) {
  struct stat st;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return errno;
  }
  *len = (size_t)st.st_size;
  *bytes = malloc(*len ? *len : 1);
  size_t done = 0;
  while (*bytes && done < *len) {
    ssize_t n = read(fd, *bytes + done, *len - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    done += (size_t)n;
  }
  close(fd);
  return *bytes && done == *len ? 0 : EIO;
}

static int make_image(const fx_config *cfg, const char *path, char *err, size_t err_len) {
  char bs[16], inodes[16], size_k[32], features[300];
  snprintf(bs, sizeof bs, "%d", cfg->block_size);
  snprintf(inodes, sizeof inodes, "%u", cfg->inodes);
  snprintf(size_k, sizeof size_k, "%lluk", cfg->size / 1024);
  snprintf(features, sizeof features, "%s%s", cfg->features, cfg->journal ? ",has_journal" : ",^has_journal");
  /* A fixed UUID and hash seed, and E2FSPROGS_FAKE_TIME in its environment (fx_child_environ): the
   * same bytes each time. */
  char *argv[] = {"mke2fs", "-q", "-F", "-t", "ext4", "-b", bs, "-N", inodes, "-O", features, "-U",
                  "6b1f5a8e-2c4d-4e3f-9a7b-1d2e3f405162", "-E",
                  "hash_seed=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,lazy_itable_init=0", (char *)path, size_k, NULL};
  int rc = run(argv);
  if (rc != 0) {
    snprintf(err, err_len, "mke2fs -b %s -N %s -O %s failed (%s %d)", bs, inodes, features,
             rc < 0 ? "could not run; is e2fsprogs installed?" : "exit", rc);
    return rc < 0 ? ENOENT : EINVAL;
  }
  return 0;
}

/* mke2fs's image, then what setup builds on it (through the engine's own disk and io_manager,
 * faults unarmed), flattened. */
static int build_image(const fx_config *cfg, unsigned char **out, size_t *out_len, char *err, size_t err_len) {
  static unsigned long counter;
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  char path[FX_PATH];
  snprintf(path, sizeof path, "%s/faultline-mke2fs-%d-%lu.img", dir, (int)getpid(),
           __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
  int rc = make_image(cfg, path, err, err_len);
  unsigned char *made = NULL;
  size_t len = 0;
  if (!rc && (rc = read_all(path, &made, &len))) snprintf(err, err_len, "%s: %s", path, strerror(rc));
  unlink(path);
  if (rc) {
    free(made);
    return rc;
  }
  fx_engine scratch;
  memset(&scratch, 0, sizeof scratch);
  scratch.cfg = *cfg;
  if (fx_disk_init(&scratch.disk, made, len, 0, 0)) {
    free(made);
    snprintf(err, err_len, "building the setup image: out of memory");
    return ENOMEM;
  }
  errcode_t e = fx_open(&scratch);
  if (!e) e = build(scratch.fs, cfg, &scratch);
  if (scratch.fs) {
    errcode_t c = ext2fs_close2(scratch.fs, 0);
    if (!e) e = c;
  }
  *out = e ? NULL : fx_disk_flatten(&scratch.disk);
  *out_len = scratch.disk.len;
  fx_disk_free(&scratch.disk);
  free(made);
  if (e || !*out) {
    snprintf(err, err_len, "building the setup image: %s", e ? error_message(e) : "out of memory");
    return EINVAL;
  }
  return 0;
}

/* The cache entry for `setup_json`, or NULL. Called with cache_lock held. */
static const cached *lookup(const char *setup_json) {
  for (int i = 0; i < cache_n; i++)
    if (strcmp(cache[i].key, setup_json) == 0) return &cache[i];
  return NULL;
}

int fx_setup_image(const char *setup_json, const fx_config *cfg, const unsigned char **bytes, size_t *len,
                   unsigned long long *k1, unsigned long long *k2, char *err, size_t err_len) {
  fx_library_init();
  pthread_mutex_lock(&cache_lock);
  const cached *c = lookup(setup_json);
  pthread_mutex_unlock(&cache_lock);
  if (!c) {
    unsigned char *made;
    size_t made_len;
    int rc = build_image(cfg, &made, &made_len, err, err_len);
    if (rc) return rc;
    unsigned long long a, b;
    fx_disk_key_of(made, made_len, &a, &b);
    pthread_mutex_lock(&cache_lock);
    if ((c = lookup(setup_json))) { /* another thread built the same bytes meanwhile */
      free(made);
    } else if (cache_n < (int)(sizeof cache / sizeof *cache)) {
      cache[cache_n] = (cached){strdup(setup_json), made, made_len, a, b};
      c = &cache[cache_n++];
    }
    pthread_mutex_unlock(&cache_lock);
    if (!c) {
      free(made);
      snprintf(err, err_len, "more than %d distinct ext2fs setups in one process", (int)(sizeof cache / sizeof *cache));
      return ENOMEM;
    }
  }
  *bytes = c->bytes;
  *len = c->len;
  *k1 = c->k1;
  *k2 = c->k2;
  return 0;
}

int fx_materialize(const char *setup_json, const fx_config *cfg, const char *path, char *err, size_t err_len) {
  const unsigned char *bytes;
  size_t len;
  unsigned long long k1, k2;
  int rc = fx_setup_image(setup_json, cfg, &bytes, &len, &k1, &k2, err, err_len);
  if (!rc && (rc = write_all(path, bytes, len))) snprintf(err, err_len, "%s: %s", path, strerror(rc));
  return rc;
}
