#include "faultline.h"

#include <stdlib.h>
#include <string.h>

fl_ctx *fl_ctx_new(int n_points) {
  if (n_points < 0) return NULL;
  fl_ctx *ctx = calloc(1, sizeof(fl_ctx) + (size_t)n_points + 1);
  if (ctx) ctx->n_points = n_points;
  return ctx;
}

void fl_ctx_free(fl_ctx *ctx) { free(ctx); }

void fl_ctx_arm(fl_ctx *ctx, int point, int armed) {
  if (ctx && point >= 0 && point < ctx->n_points) ctx->armed[point] = armed ? 1 : 0;
}
