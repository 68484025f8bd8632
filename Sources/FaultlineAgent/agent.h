/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * fl-agent: faultline's guest agent. It runs as init (PID 1) in a User-Mode Linux guest whose root
 * is the host's filesystem, read-only (hostfs). It speaks a line protocol with the host on
 * /dev/tty1 (UML's con1, mapped to a pipe pair of the host's linux engine) and carries out what the
 * host asks: a plan's operations, one thread per plan task so tasks run concurrently in the guest;
 * and queries: run a program (mkfs, fsck), mount, unmount, FIEMAP and statfs snapshots, the kernel
 * log, writes to /proc and /sys, dropping the block device's buffers.
 *
 * Protocol (every token but the first is key=value, values percent-encoded):
 *   guest: READY agent=1 kernel=RELEASE
 *   host:  OP id=N task=T kind=K path=P [offset= length= pattern= generation= size= target= name= value= mode=]
 *   guest: DONE id=N rc=ERRNO [data=BASE64]           (a read's bytes)
 *   host:  Q id=N cmd=C [args…]                         (run, mount, umount, snap, kmsg, write, read, …)
 *   guest: RES id=N rc=ERRNO [out=BASE64] [status=S]
 * Replies may come in any order; ids match them.
 */
#ifndef FL_AGENT_H
#define FL_AGENT_H

#include <stddef.h>
#include <stdint.h>

#define FL_AGENT_VERSION 1
#define FL_MAX_TOKENS 24
#define FL_MAX_LINE (1 << 20)

/* The mount point every plan path is under. */
#define FL_MNT "/mnt"

typedef struct fl_kv {
  char *key;
  char *value; /* decoded */
} fl_kv;

typedef struct fl_msg {
  char *verb;
  fl_kv kv[FL_MAX_TOKENS];
  int n;
  char *line; /* owns the storage */
} fl_msg;

const char *fl_get(const fl_msg *m, const char *key);
unsigned long long fl_get_u64(const fl_msg *m, const char *key, unsigned long long dflt);
int fl_parse(char *line, fl_msg *m);

/* The channel: one writer at a time. */
void fl_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sends `head` followed by ` key=BASE64(data)` and a newline. */
void fl_send_data(const char *head, const char *key, const uint8_t *data, size_t len);

/* A growable byte buffer. */
typedef struct fl_buf_t {
  char *p;
  size_t len, cap;
} fl_strbuf;
void sb_put(fl_strbuf *b, const char *s, size_t n);
void sb_printf(fl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_string(fl_strbuf *b, const char *s);

/* Operations (ops.c): queued to the task's thread. */
void fl_op_dispatch(fl_msg *m);
/* Closes every file a task holds (between scenarios); 0, or EBUSY when a task is stuck. */
int fl_ops_reset(void);
/* The thread ids of the tasks not inside an operation, comma-separated (for held-lock checks). */
void fl_ops_idle_tids(char *out, size_t n);

/* Waits (bounded, about 2 s at most) until the plan's disk has no request in flight and its
 * completed-request counts stood still for a short quiet spell, so I/O an operation started
 * (readahead, a worker it queued) is done, and counted at the host, before the operation is
 * answered: the disk hits the host attributes to the operation then do not depend on timing. */
void fl_settle(void);

/* Queries (query.c): run on the query thread. */
void fl_query(fl_msg *m);
/* A query's reply: `RES id=N rc=ERRNO`, and with `out` its bytes (base64) after `extra`. */
void fl_reply(const char *id, int rc);
void fl_reply_out(const char *id, int rc, const char *extra, const fl_strbuf *out);
/* Appends what `fd` holds to `out`: at most 1024 reads of 8 KiB (8 MiB), EINTR retried. */
void sb_read_all(fl_strbuf *out, int fd);
/* Kernel checks (kernelcheck.c): module loading, kpageflags, kmemleak, held locks. */
void fl_check_module(const char *id, fl_msg *m);
void fl_check_pageflags(const char *id);
void fl_check_kmemleak(const char *id, fl_msg *m);
void fl_check_held_locks(const char *id);
/* io.submit (submit.c): fail_make_request on the plan's disk, counted and armed per operation. */
void fl_submit_query(const char *id, fl_msg *m);

#endif
