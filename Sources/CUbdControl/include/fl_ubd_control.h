/*
 * fl_ubd_control.h: the shared memory between faultline and the disk shim (libFaultlineUbdShim.so)
 * that runs inside a User-Mode Linux process, preloaded, between the guest's ubd disk and the host
 * file behind it.
 *
 * The shim counts every pread (io.read), pwrite (io.write) and fdatasync/fsync (io.flush) UML
 * does on the disk image, fails the hits faultline armed, keeps an undo log (the old bytes under
 * every write, and a marker at every flush) so the host can put the image back as it was at the
 * last flush (a power cut) or at the golden point (the next scenario), and can drop writes (while
 * the guest unmounts after a power cut: nothing it writes then may reach the disk).
 *
 * One control block per UML process, in a file both sides map (FAULTLINE_UBD_CONTROL). Fields are
 * read and written with the atomic accessors below; the layout is versioned.
 */
#ifndef FL_UBD_CONTROL_H
#define FL_UBD_CONTROL_H

#include <stdint.h>

#define FL_UBD_MAGIC 0x464c5542u /* "FLUB" */
#define FL_UBD_VERSION 1u

enum fl_ubd_point { FL_UBD_READ = 0, FL_UBD_WRITE = 1, FL_UBD_FLUSH = 2, FL_UBD_POINTS = 3 };

/* Fired hits remembered per point (the first ones; the count says how many there were). */
#define FL_UBD_FIRED_MAX 64

typedef struct fl_ubd_point_state {
  uint64_t hits;      /* hits counted since the host last zeroed them */
  uint64_t fire_from; /* fire hits from..to (1-based, inclusive); 0: disarmed */
  uint64_t fire_to;   /* UINT64_MAX: every hit from fire_from on (persistent) */
  uint64_t every;     /* > 0: within from..to, only hits that are multiples of this */
  int64_t err;        /* the errno a fired hit returns */
  uint64_t fired;     /* how many hits fired */
  uint64_t fired_at[FL_UBD_FIRED_MAX];
} fl_ubd_point_state;

typedef struct fl_ubd_control {
  uint32_t magic;
  uint32_t version;
  uint32_t drop_writes; /* 1: writes, zeroing and flushes succeed without touching the image */
  uint32_t recording;   /* 1: keep the undo log */
  int32_t image_fd;     /* the fd UML opened the image with, -1 before (set by the shim) */
  uint32_t pad;
  uint64_t undo_errors; /* undo records the shim could not write (the host must not trust the log) */
  uint64_t writes_dropped;
  fl_ubd_point_state points[FL_UBD_POINTS];
} fl_ubd_control;

/* Undo log records: a header, then `length` old bytes (none for a flush marker). */
typedef struct fl_ubd_undo_header {
  uint64_t offset; /* FL_UBD_UNDO_FLUSH: a flush reached the host here */
  uint64_t length;
} fl_ubd_undo_header;
#define FL_UBD_UNDO_FLUSH UINT64_MAX

static inline uint64_t fl_ubd_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void fl_ubd_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t fl_ubd_add(uint64_t *p, uint64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t fl_ubd_load32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void fl_ubd_store32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t fl_ubd_load_err(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void fl_ubd_store_err(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

#endif
