/* A scenario's disk in memory: the setup's image (shared, never written) under a copy-on-write
 * overlay of the pages this scenario wrote. Starting a scenario costs no copy; its content key
 * (for e2fsck's verdict cache) is kept as a sum of per-page hashes, so it costs what the
 * scenario wrote, not the image's size; e2fsck reads it through a per-thread memfd that mirrors
 * the setup's bytes and is patched with the overlay before each check. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fx_internal.h"

/* Writes past the end grow the image, as they grow an image file; not past this. */
enum { FX_DISK_MAX = 1 << 30 };

/* Two independent 64-bit hashes of page `index` holding `p`; an all-zero page hashes to 0, so
 * pages that read as zeros (past the base, or written with zeros) count alike wherever they are. */
void fx_page_hash(size_t index, const unsigned char *p, unsigned long long *k1, unsigned long long *k2) {
  unsigned long long w[FX_PAGE / 8], any = 0;
  memcpy(w, p, FX_PAGE);
  for (size_t i = 0; i < FX_PAGE / 8; i++) any |= w[i];
  if (!any) {
    *k1 = *k2 = 0;
    return;
  }
  unsigned long long a = 0x243F6A8885A308D3ULL ^ (index * 0x9E3779B97F4A7C15ULL), b = 0x13198A2E03707344ULL + index;
  for (size_t i = 0; i < FX_PAGE / 8; i++) {
    a = (a ^ w[i]) * 0x9E3779B97F4A7C15ULL;
    a ^= a >> 29;
    b = (b + w[i]) * 0xC2B2AE3D27D4EB4FULL;
    b ^= b >> 31;
  }
  *k1 = a;
  *k2 = b;
}

void fx_disk_key_of(const unsigned char *bytes, size_t len, unsigned long long *k1, unsigned long long *k2) {
  unsigned long long a = 0, b = 0, x, y;
  unsigned char tail[FX_PAGE];
  for (size_t i = 0; i * FX_PAGE < len; i++) {
    const unsigned char *p = bytes + i * FX_PAGE;
    if (len - i * FX_PAGE < FX_PAGE) {
      memset(tail, 0, sizeof tail);
      memcpy(tail, p, len - i * FX_PAGE);
      p = tail;
    }
    fx_page_hash(i, p, &x, &y);
    a += x;
    b += y;
  }
  *k1 = a ^ (unsigned long long)len;
  *k2 = b;
}

int fx_disk_init(fx_disk *d, const unsigned char *base, size_t len, unsigned long long k1, unsigned long long k2) {
  memset(d, 0, sizeof *d);
  d->base = base;
  d->base_len = d->len = len;
  d->base_k1 = k1;
  d->base_k2 = k2;
  d->n_pages = (len + FX_PAGE - 1) / FX_PAGE;
  d->pages = calloc(d->n_pages ? d->n_pages : 1, sizeof *d->pages);
  return d->pages ? 0 : ENOMEM;
}

void fx_disk_free(fx_disk *d) {
  for (size_t i = 0; i < d->n_written; i++) free(d->pages[d->written[i]]);
  free(d->pages);
  free(d->written);
  memset(d, 0, sizeof *d);
}

/* Page `i` as it reads now, into `out`. */
static void page_now(const fx_disk *d, size_t i, unsigned char *out) {
  if (i < d->n_pages && d->pages[i]) {
    memcpy(out, d->pages[i], FX_PAGE);
    return;
  }
  size_t off = i * FX_PAGE;
  memset(out, 0, FX_PAGE);
  if (off < d->base_len) memcpy(out, d->base + off, d->base_len - off < FX_PAGE ? d->base_len - off : FX_PAGE);
}

errcode_t fx_disk_read(const fx_disk *d, unsigned long long off, size_t n, void *out) {
  unsigned char *o = out;
  size_t have = off < d->len ? (d->len - off < n ? (size_t)(d->len - off) : n) : 0;
  for (size_t done = 0; done < have;) {
    size_t i = (size_t)((off + done) / FX_PAGE), in = (size_t)((off + done) % FX_PAGE);
    size_t k = FX_PAGE - in < have - done ? FX_PAGE - in : have - done;
    if (i < d->n_pages && d->pages[i]) {
      memcpy(o + done, d->pages[i] + in, k);
    } else {
      size_t at = i * FX_PAGE + in;
      size_t from_base = at < d->base_len ? (d->base_len - at < k ? d->base_len - at : k) : 0;
      memcpy(o + done, d->base + at, from_base);
      memset(o + done + from_base, 0, k - from_base);
    }
    done += k;
  }
  /* As unix_io_manager does at the end of a file: the rest reads as zeros, and it is an error. */
  if (have < n) {
    memset(o + have, 0, n - have);
    return EXT2_ET_SHORT_READ;
  }
  return 0;
}

/* Page `i`'s private copy, made from what it reads now on first write. */
static unsigned char *own(fx_disk *d, size_t i) {
  if (i >= d->n_pages) {
    size_t n = d->n_pages ? d->n_pages : 1;
    for (int guard = 0; guard < 64 && n <= i; guard++) n *= 2;
    unsigned char **grown = realloc(d->pages, n * sizeof *grown);
    if (!grown) return NULL;
    memset(grown + d->n_pages, 0, (n - d->n_pages) * sizeof *grown);
    d->pages = grown;
    d->n_pages = n;
  }
  if (d->pages[i]) return d->pages[i];
  if (d->n_written == d->cap_written) {
    size_t cap = d->cap_written ? 2 * d->cap_written : 64;
    size_t *w = realloc(d->written, cap * sizeof *w);
    if (!w) return NULL;
    d->written = w;
    d->cap_written = cap;
  }
  unsigned char *p = malloc(FX_PAGE);
  if (!p) return NULL;
  page_now(d, i, p);
  d->pages[i] = p;
  d->written[d->n_written++] = i;
  return p;
}

errcode_t fx_disk_write(fx_disk *d, unsigned long long off, size_t n, const void *data) {
  if (off + n > FX_DISK_MAX) return EXT2_ET_SHORT_WRITE;
  d->version++;
  const unsigned char *s = data;
  for (size_t done = 0; done < n;) {
    size_t i = (size_t)((off + done) / FX_PAGE), in = (size_t)((off + done) % FX_PAGE);
    size_t k = FX_PAGE - in < n - done ? FX_PAGE - in : n - done;
    unsigned char *p = own(d, i);
    if (!p) return EXT2_ET_NO_MEMORY;
    if (s) memcpy(p + in, s + done, k);
    else memset(p + in, 0, k);
    done += k;
  }
  if (off + n > d->len) d->len = (size_t)(off + n);
  return 0;
}

void fx_disk_key(const fx_disk *d, unsigned long long *k1, unsigned long long *k2) {
  unsigned long long a = d->base_k1 ^ (unsigned long long)d->base_len, b = d->base_k2, x, y;
  unsigned char was[FX_PAGE];
  for (size_t w = 0; w < d->n_written; w++) {
    size_t i = d->written[w];
    memset(was, 0, sizeof was);
    if (i * FX_PAGE < d->base_len) {
      size_t k = d->base_len - i * FX_PAGE < FX_PAGE ? d->base_len - i * FX_PAGE : FX_PAGE;
      memcpy(was, d->base + i * FX_PAGE, k);
    }
    fx_page_hash(i, was, &x, &y);
    a -= x;
    b -= y;
    /* Bytes past the image's end (a page the end cuts) do not count. */
    unsigned char now[FX_PAGE];
    memcpy(now, d->pages[i], FX_PAGE);
    if ((i + 1) * FX_PAGE > d->len) {
      size_t keep = d->len > i * FX_PAGE ? d->len - i * FX_PAGE : 0;
      memset(now + keep, 0, FX_PAGE - keep);
    }
    fx_page_hash(i, now, &x, &y);
    a += x;
    b += y;
  }
  *k1 = a ^ (unsigned long long)d->len;
  *k2 = b;
}

unsigned char *fx_disk_flatten(const fx_disk *d) {
  unsigned char *out = malloc(d->len ? d->len : 1);
  if (out && fx_disk_read(d, 0, d->len, out)) {
    free(out);
    return NULL;
  }
  return out;
}

/* --- the mirror e2fsck reads ------------------------------------------------------------------ */

/* One per thread: a memfd holding `base` with the pages listed in `patched` overwritten. */
typedef struct mirror {
  int fd;
  const unsigned char *base;
  size_t base_len;
  size_t *patched;
  size_t n_patched, cap_patched;
} mirror;

static pthread_key_t mirror_key;
static pthread_once_t mirror_once = PTHREAD_ONCE_INIT;

static void mirror_free(void *p) {
  mirror *m = p;
  if (m->fd >= 0) close(m->fd);
  free(m->patched);
  free(m);
}

static void mirror_init(void) { pthread_key_create(&mirror_key, mirror_free); }

static int pwrite_all(int fd, const void *buf, size_t n, off_t off) {
  const unsigned char *p = buf;
  for (int guard = 0; n > 0 && guard < 1 << 20; guard++) {
    ssize_t k = pwrite(fd, p, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return k < 0 ? errno : EIO;
    p += k;
    n -= (size_t)k;
    off += k;
  }
  return n ? EIO : 0;
}

int fx_disk_expose(const fx_disk *d) {
  pthread_once(&mirror_once, mirror_init);
  mirror *m = pthread_getspecific(mirror_key);
  if (!m) {
    m = calloc(1, sizeof *m);
    if (!m) return -1;
    m->fd = memfd_create("faultline-ext2fs", MFD_CLOEXEC);
    if (m->fd < 0) {
      free(m);
      return -1;
    }
    pthread_setspecific(mirror_key, m);
  }
  if (m->base != d->base || m->base_len != d->base_len) {
    if (ftruncate(m->fd, 0) || pwrite_all(m->fd, d->base, d->base_len, 0)) return -1;
    m->base = d->base;
    m->base_len = d->base_len;
    m->n_patched = 0;
  }
  /* Put back what the last scenario changed, then write this one's pages. */
  for (size_t k = 0; k < m->n_patched; k++) {
    size_t i = m->patched[k];
    if (i * FX_PAGE >= m->base_len) continue; /* past the base: the truncate below drops it */
    size_t n = m->base_len - i * FX_PAGE < FX_PAGE ? m->base_len - i * FX_PAGE : FX_PAGE;
    if (pwrite_all(m->fd, m->base + i * FX_PAGE, n, (off_t)(i * FX_PAGE))) return -1;
  }
  m->n_patched = 0;
  /* Back to the base's length (dropping what the last scenario grew), then to this one's (a disk
   * only grows, so what lies past the base reads as zeros until its pages are written). */
  if (ftruncate(m->fd, (off_t)m->base_len) || ftruncate(m->fd, (off_t)d->len)) return -1;
  if (m->cap_patched < d->n_written) {
    size_t *p = realloc(m->patched, d->n_written * sizeof *p);
    if (!p) return -1;
    m->patched = p;
    m->cap_patched = d->n_written;
  }
  for (size_t w = 0; w < d->n_written; w++) {
    size_t i = d->written[w]; /* below d->len: pages are made only for bytes written */
    size_t n = d->len - i * FX_PAGE < FX_PAGE ? d->len - i * FX_PAGE : FX_PAGE;
    if (pwrite_all(m->fd, d->pages[i], n, (off_t)(i * FX_PAGE))) return -1;
    m->patched[m->n_patched++] = i;
  }
  return m->fd;
}
