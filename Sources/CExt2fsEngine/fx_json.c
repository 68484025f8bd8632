/* The small JSON faultline sends a C engine (setup sections, operations): a strict parser into a
 * tree, bounded in depth and size, and a writer for the snapshot. */
#include "fx_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_internal.h"

typedef struct parser {
  const char *p;
  int depth;
} parser;

static void skip_ws(parser *ps) {
  while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r') ps->p++;
}

static fx_json *node(int type) {
  fx_json *n = calloc(1, sizeof *n);
  if (n) n->type = type;
  return n;
}

static char *parse_string(parser *ps) {
  if (*ps->p != '"') return NULL;
  ps->p++;
  size_t cap = 32, n = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  for (size_t guard = 0; *ps->p && *ps->p != '"' && guard < (1u << 20); guard++) {
    char c = *ps->p++;
    if (c == '\\') {
      /* A backslash at the very end escapes nothing: the NUL after it ends the input (stepping
       * over it would read past the text). */
      char e = *ps->p;
      if (!e) break;
      ps->p++;
      switch (e) {
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case 'r': c = '\r'; break;
      case 'u': {
        unsigned v = 0;
        int i = 0;
        for (; i < 4; i++) {
          char h = *ps->p;
          int d = h >= '0' && h <= '9'   ? h - '0'
                  : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                         : -1;
          if (d < 0) break;
          v = v * 16 + (unsigned)d;
          ps->p++;
        }
        if (i < 4) { /* four hex digits, or the string is malformed */
          free(s);
          return NULL;
        }
        c = v < 0x80 ? (char)v : '?';
        break;
      }
      default: c = e;
      }
    }
    if (n + 2 > cap) {
      cap *= 2;
      char *t = realloc(s, cap);
      if (!t) {
        free(s);
        return NULL;
      }
      s = t;
    }
    s[n++] = c;
  }
  if (*ps->p != '"') {
    free(s);
    return NULL;
  }
  ps->p++;
  s[n] = 0;
  return s;
}

static fx_json *parse_value(parser *ps);

static fx_json *parse_container(parser *ps, int object) {
  fx_json *n = node(object ? FX_JSON_OBJECT : FX_JSON_ARRAY);
  if (!n) return NULL;
  ps->p++;
  skip_ws(ps);
  char close = object ? '}' : ']';
  if (*ps->p == close) {
    ps->p++;
    return n;
  }
  fx_json **tail = &n->child;
  for (int count = 0; count < 4096; count++) {
    skip_ws(ps);
    char *key = NULL;
    if (object) {
      key = parse_string(ps);
      skip_ws(ps);
      if (!key || *ps->p != ':') {
        free(key);
        fx_json_free(n);
        return NULL;
      }
      ps->p++;
    }
    fx_json *v = parse_value(ps);
    if (!v) {
      free(key);
      fx_json_free(n);
      return NULL;
    }
    v->key = key;
    *tail = v;
    tail = &v->next;
    skip_ws(ps);
    if (*ps->p == ',') {
      ps->p++;
      continue;
    }
    if (*ps->p == close) {
      ps->p++;
      return n;
    }
    break;
  }
  fx_json_free(n);
  return NULL;
}

static fx_json *parse_value(parser *ps) {
  skip_ws(ps);
  if (ps->depth > 32) return NULL;
  ps->depth++;
  fx_json *n = NULL;
  char c = *ps->p;
  if (c == '{' || c == '[') {
    n = parse_container(ps, c == '{');
  } else if (c == '"') {
    char *s = parse_string(ps);
    if (s && (n = node(FX_JSON_STRING))) n->string = s;
    else free(s);
  } else if (c >= '0' && c <= '9') {
    n = node(FX_JSON_NUMBER);
    if (n) n->number = strtoull(ps->p, (char **)&ps->p, 10);
  } else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
    n = node(FX_JSON_BOOL);
    if (n) n->number = ps->p[0] == 't';
    ps->p += ps->p[0] == 't' ? 4 : 5;
  } else if (strncmp(ps->p, "null", 4) == 0) {
    n = node(FX_JSON_NULL);
    ps->p += 4;
  }
  ps->depth--;
  return n;
}

fx_json *fx_json_parse(const char *text) {
  parser ps = {text, 0};
  fx_json *n = parse_value(&ps);
  skip_ws(&ps);
  if (n && *ps.p) {
    fx_json_free(n);
    return NULL;
  }
  return n;
}

void fx_json_free(fx_json *n) {
  while (n) {
    fx_json *next = n->next;
    fx_json_free(n->child);
    free(n->key);
    free(n->string);
    free(n);
    n = next;
  }
}

const fx_json *fx_json_get(const fx_json *object, const char *key) {
  if (!object || object->type != FX_JSON_OBJECT) return NULL;
  for (const fx_json *c = object->child; c; c = c->next)
    if (c->key && strcmp(c->key, key) == 0) return c;
  return NULL;
}

const char *fx_json_string(const fx_json *object, const char *key) {
  const fx_json *v = fx_json_get(object, key);
  return v && v->type == FX_JSON_STRING ? v->string : NULL;
}

int fx_json_number(const fx_json *object, const char *key, unsigned long long *out) {
  const fx_json *v = fx_json_get(object, key);
  if (!v || (v->type != FX_JSON_NUMBER && v->type != FX_JSON_BOOL)) return 0;
  *out = v->number;
  return 1;
}

void fx_put(fx_buf *b, const char *fmt, ...) {
  for (int tries = 0; tries < 2; tries++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    if (!fx_reserve(b, (size_t)n)) return;
  }
}

/* Appends raw bytes. */
static void fx_put_raw(fx_buf *b, const char *s, size_t n) {
  char *p = fx_reserve(b, n);
  if (!p) return;
  memcpy(p, s, n);
  fx_commit(b, p + n);
}

void fx_put_json_string(fx_buf *b, const char *s) {
  fx_put_raw(b, "\"", 1);
  const unsigned char *run = (const unsigned char *)s;
  for (const unsigned char *p = run; *p; p++) {
    if (*p != '"' && *p != '\\' && *p >= 0x20) continue;
    fx_put_raw(b, (const char *)run, (size_t)(p - run));
    if (*p == '"' || *p == '\\') fx_put(b, "\\%c", *p);
    else if (*p == '\n') fx_put(b, "\\n");
    else fx_put(b, "\\u%04x", *p);
    run = p + 1;
  }
  fx_put_raw(b, (const char *)run, strlen((const char *)run));
  fx_put_raw(b, "\"", 1);
}


char *fx_reserve(fx_buf *b, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap + n + 64) * 2;
    char *t = realloc(b->s, cap);
    if (!t) {
      b->failed = 1;
      return NULL;
    }
    b->s = t;
    b->cap = cap;
  }
  return b->s + b->len;
}

void fx_commit(fx_buf *b, char *end) {
  b->len = (size_t)(end - b->s);
  b->s[b->len] = 0;
}

char *fx_u64(char *p, unsigned long long v) {
  static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                              "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                              "8081828384858687888990919293949596979899";
  int n = 1;
  for (unsigned long long t = v; t >= 10 && n < 20; t /= 10) n++;
  char *end = p + n, *q = end;
  /* Two digits per division, written from the end backwards. */
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    q -= 2;
    q[0] = pairs[2 * r];
    q[1] = pairs[2 * r + 1];
  }
  if (v >= 10) {
    q -= 2;
    q[0] = pairs[2 * v];
    q[1] = pairs[2 * v + 1];
  } else {
    *--q = (char)('0' + v);
  }
  return end;
}
