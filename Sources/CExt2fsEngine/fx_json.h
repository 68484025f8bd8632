/* A JSON tree for the engine's inputs. */
#ifndef FX_JSON_H
#define FX_JSON_H

enum { FX_JSON_NULL, FX_JSON_BOOL, FX_JSON_NUMBER, FX_JSON_STRING, FX_JSON_ARRAY, FX_JSON_OBJECT };

typedef struct fx_json {
  int type;
  char *key;                /* in an object */
  char *string;             /* FX_JSON_STRING */
  unsigned long long number; /* FX_JSON_NUMBER (non-negative integers only), FX_JSON_BOOL */
  struct fx_json *child;    /* first element or member */
  struct fx_json *next;     /* next sibling */
} fx_json;

/* NULL on malformed input. */
fx_json *fx_json_parse(const char *text);
void fx_json_free(fx_json *n);
const fx_json *fx_json_get(const fx_json *object, const char *key);
const char *fx_json_string(const fx_json *object, const char *key);
int fx_json_number(const fx_json *object, const char *key, unsigned long long *out);

#endif
