/* e2fsck's complaints, and which of them a failed read or write explains (fx_explain.c). */
#ifndef FX_EXPLAIN_H
#define FX_EXPLAIN_H

#include "fx_internal.h"

typedef struct fx_complaints fx_complaints;

/* e2fsck -fn's output cut into complaints, each with what it names. NULL when out of memory. */
fx_complaints *fx_complaints_parse(const char *e2fsck_output);
/* Decides, for each, whether the injected I/O failures `e` recorded explain it. */
void fx_complaints_excuse(fx_engine *e, fx_complaints *cs);
void fx_complaints_free(fx_complaints *cs);

int fx_complaints_count(const fx_complaints *cs);
/* Nonzero when complaints were dropped for want of memory (or `cs` is NULL). */
int fx_complaints_lost(const fx_complaints *cs);
/* The complaint's lines, joined. */
const char *fx_complaint_text(const fx_complaints *cs, int i);
/* 0 for what e2fsck offers but does not count as an error ("extent tree could be shorter"). */
int fx_complaint_is_damage(const fx_complaints *cs, int i);
int fx_complaint_excused(const fx_complaints *cs, int i);
/* What explains it, or why it is not explained. */
const char *fx_complaint_why(const fx_complaints *cs, int i);

#endif
