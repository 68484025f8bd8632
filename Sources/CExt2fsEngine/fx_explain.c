/* Which of e2fsck's complaints a failed read or write explains. e2fsck -fn's output is cut into
 * complaints (each ends at its "? no", or is a line of its own), and each is tied to what it
 * names: inodes ("Inode 13, i_blocks is 72, should be 70", "Entry 'a' in /d (13) has deleted/
 * unused inode 14", "Unconnected directory inode 13 (was in /)"), leaked blocks and inodes (the
 * "-" items of "Block bitmap differences:" and "Inode bitmap differences:"), blocks
 * ("invalid extent node (blk 147, ...)"). A complaint is excused (io-error-damage) only when what
 * it names is a structure an injected I/O failure hit (fx_failed_io_inodes), a leaked block is
 * one whose own write failed or was allocated in this scenario (or belonged at setup) to an inode
 * such a failure hit. Never excused: the unsafe kind (blocks or inodes in use that the bitmap has
 * free, blocks claimed twice), counts and bitmap padding (the fault-free close writes them from
 * libext2fs's memory), and anything that names nothing faultline can tie to a failure. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_explain.h"
#include "fx_internal.h"

enum { MAX_NAMED = 32, MAX_CONCERNED = 4096 };

typedef struct complaint {
  char *text; /* its lines joined by " " (trimmed) */
  ext2_ino_t ino[MAX_NAMED];
  int n_ino;
  unsigned long long leaked[MAX_NAMED][2]; /* block ranges the bitmap has in use and nothing uses */
  int n_leaked;
  ext2_ino_t leaked_ino[MAX_NAMED]; /* inodes the bitmap has in use and nothing uses */
  int n_leaked_ino;
  unsigned long long blocks[MAX_NAMED]; /* blocks it names otherwise ("blk 147") */
  int n_blocks;
  int overflow;      /* named more than MAX_NAMED of something: not all of it can be checked */
  const char *never; /* why it is never excused; NULL: it may be */
  int note;          /* not damage (e2fsck does not count it as an error) */
  char entry[FX_PATH]; /* "Entry 'NAME' in PATH (N)": PATH/NAME, resolved to an inode */
  char was_in[FX_PATH]; /* "Unconnected directory inode N (was in PATH)" */
  int excused;
  char why[600];
} complaint;

struct fx_complaints {
  complaint *v;
  int n, cap;
  int lost; /* complaints dropped for want of memory: the rest cannot excuse the image */
};

static void add_ino(complaint *c, unsigned long long v) {
  if (!v) return;
  for (int i = 0; i < c->n_ino; i++)
    if (c->ino[i] == v) return;
  if (c->n_ino < MAX_NAMED) c->ino[c->n_ino++] = (ext2_ino_t)v;
  else c->overflow = 1;
}

/* Case-insensitive strstr. */
static const char *find(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p; p++)
    if (strncasecmp(p, needle, n) == 0) return p;
  return NULL;
}

static int skip_line(const char *l) {
  if (!*l) return 1;
  if (strncmp(l, "Pass ", 5) == 0 || strncmp(l, "e2fsck ", 7) == 0) return 1;
  if (strncmp(l, "image: ", 7) == 0 &&
      (strstr(l, " files (") || strstr(l, "WARNING") || strstr(l, "WAS MODIFIED") || strstr(l, "clean,")))
    return 1;
  if (strstr(l, "skipping journal recovery")) return 1;
  return 0;
}

/* A line that is only e2fsck's question and our "no" ("Fix? no", "Connect to /lost+found? no"). */
static int only_a_question(const char *l) {
  const char *q = strstr(l, "? no");
  if (!q || q[4]) return 0;
  for (const char *p = l; p < q; p++)
    if (isdigit((unsigned char)*p) || *p == ',' || *p == '.' || *p == '(') return 0;
  return 1;
}

/* The "+"/"-" items after "differences:" ("+(33--36) -37"). */
static void bitmap_items(complaint *c, const char *list, int inodes) {
  const char *p = list;
  for (int guard = 0; *p && guard < 100000; guard++) {
    while (*p == ' ') p++;
    if (*p != '+' && *p != '-') break;
    int plus = *p++ == '+';
    unsigned long long a, b;
    char *end;
    if (*p == '(') {
      a = strtoull(p + 1, &end, 10);
      if (strncmp(end, "--", 2) != 0) break;
      b = strtoull(end + 2, &end, 10);
      if (*end != ')') break;
      p = end + 1;
    } else {
      a = b = strtoull(p, &end, 10);
      if (end == p) break;
      p = end;
    }
    if (plus) {
      c->never = inodes
                     ? "inodes in use that the inode bitmap has free (the unsafe kind: they can be handed out again)"
                     : "blocks in use that the block bitmap has free (the unsafe kind: they can be handed out again)";
    } else if (inodes) {
      /* A range longer than faultline names is not checked whole: never excused for the rest. */
      if (b - a >= MAX_NAMED) c->overflow = 1;
      for (unsigned long long k = a; k <= b && k - a < MAX_NAMED; k++) {
        if (c->n_leaked_ino < MAX_NAMED) c->leaked_ino[c->n_leaked_ino++] = (ext2_ino_t)k;
        else c->overflow = 1;
      }
    } else if (c->n_leaked < MAX_NAMED) {
      c->leaked[c->n_leaked][0] = a;
      c->leaked[c->n_leaked][1] = b;
      c->n_leaked++;
    } else {
      c->overflow = 1;
    }
  }
}

/* What one complaint names. */
static void analyze(complaint *c) {
  const char *t = c->text;
  if (strstr(t, "could be shorter") || strstr(t, "could be narrower")) {
    c->note = 1; /* an optimization e2fsck offers, not damage: it does not make e2fsck fail */
    return;
  }
  const char *d;
  if ((d = strstr(t, "Block bitmap differences:"))) bitmap_items(c, d + strlen("Block bitmap differences:"), 0);
  if ((d = strstr(t, "Inode bitmap differences:"))) bitmap_items(c, d + strlen("Inode bitmap differences:"), 1);
  if (find(t, "multiply-claimed") || strstr(t, "claimed by more than one") || strstr(t, "shared with"))
    c->never = "blocks claimed by two owners (the unsafe kind)";
  if (strstr(t, "count wrong"))
    c->never = "a count the fault-free close wrote from libext2fs's memory (the failed I/O did not put it there)";
  if (strstr(t, "Padding at end of"))
    c->never = "a bitmap the fault-free close wrote from libext2fs's memory (the failed I/O did not put it there)";
  if (strncmp(t, "[faultline:", 11) == 0) c->never = "e2fsck said more than faultline keeps: the rest was not read";
  /* Inodes: "inode 13", "Inode 13", "inode #13" (not "inode bitmap", "inodes containing"). */
  for (const char *p = t; (p = find(p, "inode")); p += 5) {
    const char *q = p + 5;
    if (*q == ' ') q++;
    if (*q == '#') q++;
    if (isdigit((unsigned char)*q)) add_ino(c, strtoull(q, NULL, 10));
  }
  /* Directory entries: "Entry 'NAME' in PATH (N) ..." and "'..' in PATH (N) is PATH (M), ...":
   * every "(N)" is an inode; the entry's own inode by its name. */
  if (strncmp(t, "Entry '", 7) == 0 || strncmp(t, "'.'", 3) == 0 || strncmp(t, "'..'", 4) == 0) {
    for (const char *p = t; (p = strchr(p, '(')); p++) {
      char *end;
      unsigned long long v = strtoull(p + 1, &end, 10);
      if (end > p + 1 && *end == ')') add_ino(c, v);
    }
    const char *name = t + 7, *in = strncmp(t, "Entry '", 7) == 0 ? strstr(name, "' in ") : NULL;
    const char *paren = in ? strstr(in + 5, " (") : NULL;
    if (paren) {
      int dir_len = (int)(paren - (in + 5));
      snprintf(c->entry, sizeof c->entry, "%.*s/%.*s", dir_len == 1 && in[5] == '/' ? 0 : dir_len, in + 5,
               (int)(in - name), name);
    }
  }
  if ((d = strstr(t, "(was in "))) {
    const char *end = strchr(d, ')');
    if (end) snprintf(c->was_in, sizeof c->was_in, "%.*s", (int)(end - d - 8), d + 8);
  }
  /* Blocks it names: "(blk 147, lblk 13)". */
  for (const char *p = t; (p = strstr(p, "(blk ")); p += 5) {
    if (c->n_blocks < MAX_NAMED) c->blocks[c->n_blocks++] = strtoull(p + 5, NULL, 10);
    else c->overflow = 1;
  }
  if (!c->never && !c->n_ino && !c->n_leaked && !c->n_leaked_ino && !c->n_blocks)
    c->never = "it names no inode or block that faultline can tie to a failed read or write";
  if (!c->never && c->overflow) c->never = "it names more than faultline checks";
}

static void push(fx_complaints *cs, const char *text, size_t len) {
  if (cs->n == cs->cap) {
    int cap = cs->cap ? 2 * cs->cap : 16;
    complaint *v = realloc(cs->v, (size_t)cap * sizeof *v);
    if (!v) {
      cs->lost = 1;
      return;
    }
    cs->v = v;
    cs->cap = cap;
  }
  complaint *c = &cs->v[cs->n];
  memset(c, 0, sizeof *c);
  c->text = strndup(text, len);
  if (!c->text) {
    cs->lost = 1;
    return;
  }
  cs->n++;
}

fx_complaints *fx_complaints_parse(const char *out) {
  fx_complaints *cs = calloc(1, sizeof *cs);
  if (!cs) return NULL;
  fx_buf cur = {0};
  for (const char *p = out ? out : ""; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    p = nl ? nl + 1 : p + len;
    if (!line) {
      cs->lost = 1;
      break;
    }
    char *l = line;
    while (*l == ' ' || *l == '\t') l++;
    size_t n = strlen(l);
    while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r')) l[--n] = 0;
    if (skip_line(l)) {
      free(line);
      continue;
    }
    if (!cur.len && cs->n && only_a_question(l)) {
      /* The question of the complaint before ("...\nFix? no"). */
      complaint *prev = &cs->v[cs->n - 1];
      char *t = malloc(strlen(prev->text) + n + 2);
      if (t) {
        sprintf(t, "%s %s", prev->text, l);
        free(prev->text);
        prev->text = t;
      }
      free(line);
      continue;
    }
    fx_put(&cur, "%s%s", cur.len ? " " : "", l);
    int ends = strstr(l, "? no") || strstr(l, "? yes") || strncmp(l, "[faultline:", 11) == 0 ||
               strncmp(l, "Running additional passes", 25) == 0;
    free(line);
    if (ends && cur.s) {
      push(cs, cur.s, cur.len);
      cur.len = 0;
    }
  }
  if (cur.len && cur.s) push(cs, cur.s, cur.len);
  free(cur.s);
  for (int i = 0; i < cs->n; i++) analyze(&cs->v[i]);
  return cs;
}

void fx_complaints_free(fx_complaints *cs) {
  if (!cs) return;
  for (int i = 0; i < cs->n; i++) free(cs->v[i].text);
  free(cs->v);
  free(cs);
}

/* --- excusing ----------------------------------------------------------------------------------- */

typedef struct concerned {
  ext2_ino_t ino[MAX_CONCERNED];
  const fx_failed_io *by[MAX_CONCERNED]; /* the failure that concerns it */
  int n;
} concerned;

static const fx_failed_io *concerns_inode(const concerned *k, ext2_ino_t ino) {
  for (int i = 0; i < k->n; i++)
    if (k->ino[i] == ino) return k->by[i];
  return NULL;
}

/* The failure whose own block `blk` was, when that block held a structure (not file data). */
static const fx_failed_io *failed_structure_block(const fx_engine *e, unsigned long long blk) {
  for (int i = 0; i < e->n_failed; i++) {
    const fx_failed_io *f = &e->failed[i];
    for (int k = 0; k < f->n_info; k++) {
      const fx_block_info *b = &f->info[k];
      if (b->blk != blk) continue;
      if (b->kind == FX_BLK_EXTENT_NODE || b->kind == FX_BLK_INDIRECT || b->kind == FX_BLK_DIR ||
          b->kind == FX_BLK_XATTR || b->kind == FX_BLK_SYMLINK || (b->kind == FX_BLK_NEW && b->metadata))
        return f;
    }
  }
  return NULL;
}

typedef struct context {
  fx_engine *e;
  concerned k;
  ext2_filsys now; /* the image as closed, for names (NULL: could not be opened) */
  fx_owners base;  /* what the setup's image mapped (made when first needed) */
  int base_tried;
} context;

/* Why leaked block `blk` is explained, into `why`; 0 when it is not. */
static int explain_leaked_block(context *x, unsigned long long blk, char *why, size_t size) {
  char io[400];
  const fx_failed_io *f = failed_structure_block(x->e, blk);
  if (f) {
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(why, size, "block %llu is the one whose I/O failed: %s", blk, io);
    return 1;
  }
  /* Allocated in this scenario for an inode a failure concerns (the latest allocation first). */
  for (int i = x->e->n_allocs - 1; i >= 0; i--) {
    const fx_alloc *a = &x->e->allocs[i];
    if (blk < a->blk || blk >= a->blk + a->count) continue;
    if (!a->ino || !(f = concerns_inode(&x->k, a->ino))) break;
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(why, size, "block %llu was allocated in this scenario for inode %u; %s", blk, (unsigned)a->ino, io);
    return 1;
  }
  /* The inode's at setup (freed from it since, or to be). */
  if (!x->base_tried) {
    x->base_tried = 1;
    fx_disk base;
    if (fx_disk_init(&base, x->e->disk.base, x->e->disk.base_len, x->e->disk.base_k1, x->e->disk.base_k2) == 0) {
      fx_owners_of(&base, &x->base);
      fx_disk_free(&base);
    }
  }
  if (x->base.v && blk < x->base.n && x->base.v[blk].ino && (f = concerns_inode(&x->k, x->base.v[blk].ino))) {
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(why, size, "block %llu was inode %u's at setup; %s", blk, (unsigned)x->base.v[blk].ino, io);
    return 1;
  }
  return 0;
}

static void excuse(context *x, complaint *c) {
  if (c->note || c->never) {
    if (c->never) snprintf(c->why, sizeof c->why, "never excused: %s", c->never);
    return;
  }
  char io[400];
  /* Names resolved on the closed image: the entry's own inode, the directory it was in. */
  ext2_ino_t ino;
  if (x->now && c->entry[0] && !ext2fs_namei(x->now, EXT2_ROOT_INO, EXT2_ROOT_INO, c->entry, &ino)) add_ino(c, ino);
  if (x->now && c->was_in[0] == '/' && !ext2fs_namei(x->now, EXT2_ROOT_INO, EXT2_ROOT_INO, c->was_in, &ino))
    add_ino(c, ino);
  /* Leaked blocks and inodes: every one must be explained. */
  int leaks = c->n_leaked || c->n_leaked_ino;
  for (int i = 0; i < c->n_leaked; i++) {
    for (unsigned long long b = c->leaked[i][0]; b <= c->leaked[i][1]; b++) {
      if (b - c->leaked[i][0] >= 4096 || !explain_leaked_block(x, b, c->why, sizeof c->why)) {
        snprintf(c->why, sizeof c->why, "not explained: block %llu, which nothing uses, is not one a failed read or "
                                        "write held, nor allocated for (or at setup mapped by) an inode one touched",
                 b);
        return;
      }
    }
  }
  for (int i = 0; i < c->n_leaked_ino; i++) {
    const fx_failed_io *f = concerns_inode(&x->k, c->leaked_ino[i]);
    if (!f) {
      snprintf(c->why, sizeof c->why, "not explained: no failed read or write touched inode %u",
               (unsigned)c->leaked_ino[i]);
      return;
    }
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(c->why, sizeof c->why, "inode %u: %s", (unsigned)c->leaked_ino[i], io);
  }
  if (leaks) {
    c->excused = 1;
    return;
  }
  /* Otherwise one inode or block it names, touched by a failure, explains it. */
  for (int i = 0; i < c->n_ino; i++) {
    const fx_failed_io *f = concerns_inode(&x->k, c->ino[i]);
    if (!f) continue;
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(c->why, sizeof c->why, "inode %u: %s", (unsigned)c->ino[i], io);
    c->excused = 1;
    return;
  }
  for (int i = 0; i < c->n_blocks; i++) {
    const fx_failed_io *f = failed_structure_block(x->e, c->blocks[i]);
    if (!f) continue;
    fx_failed_io_describe(f, io, sizeof io);
    snprintf(c->why, sizeof c->why, "block %llu: %s", c->blocks[i], io);
    c->excused = 1;
    return;
  }
  int n = snprintf(c->why, sizeof c->why, "not explained: it concerns");
  for (int i = 0; i < c->n_ino && (size_t)n < sizeof c->why; i++)
    n += snprintf(c->why + n, sizeof c->why - (size_t)n, "%s inode %u", i ? "," : "", (unsigned)c->ino[i]);
  for (int i = 0; i < c->n_blocks && (size_t)n < sizeof c->why; i++)
    n += snprintf(c->why + n, sizeof c->why - (size_t)n, "%s block %llu", i || c->n_ino ? "," : "", c->blocks[i]);
  if ((size_t)n < sizeof c->why)
    snprintf(c->why + n, sizeof c->why - (size_t)n, "%s",
             x->e->n_failed ? ", and no failed read or write touched its structures"
                            : ", and no read or write failed");
}

void fx_complaints_excuse(fx_engine *e, fx_complaints *cs) {
  context *x = calloc(1, sizeof *x);
  if (!x) return; /* nothing excused */
  x->e = e;
  for (int i = 0; i < e->n_failed; i++) {
    ext2_ino_t ino[64];
    int n = fx_failed_io_inodes(&e->failed[i], ino, 64);
    for (int j = 0; j < n && x->k.n < MAX_CONCERNED; j++) {
      if (concerns_inode(&x->k, ino[j])) continue;
      x->k.ino[x->k.n] = ino[j];
      x->k.by[x->k.n++] = &e->failed[i];
    }
  }
  /* A failure not recorded (the log was full) might have explained anything: excuse nothing. */
  int blind = e->failed_dropped || e->allocs_dropped;
  if (fx_open_quiet(&e->disk, &x->now)) x->now = NULL;
  for (int i = 0; i < cs->n; i++) {
    if (blind) {
      complaint *c = &cs->v[i];
      if (!c->note)
        snprintf(c->why, sizeof c->why, "never excused: %s",
                 e->failed_dropped ? "more failed reads and writes than the engine records"
                                   : "more allocations than the engine records");
      continue;
    }
    excuse(x, &cs->v[i]);
  }
  if (x->now) ext2fs_free(x->now);
  fx_owners_free(&x->base);
  free(x);
}

int fx_complaints_lost(const fx_complaints *cs) { return cs ? cs->lost : 1; }

int fx_complaints_count(const fx_complaints *cs) { return cs ? cs->n : 0; }
const char *fx_complaint_text(const fx_complaints *cs, int i) { return cs->v[i].text; }
int fx_complaint_is_damage(const fx_complaints *cs, int i) { return !cs->v[i].note; }
int fx_complaint_excused(const fx_complaints *cs, int i) { return cs->v[i].excused; }
const char *fx_complaint_why(const fx_complaints *cs, int i) { return cs->v[i].why; }
