/* A C engine for faultline-bench: its one operation passes its one fault point `length` times,
 * so the benchmark can time a hit through the whole product path (fl_fail → ctx->hit →
 * CEngine → Harness.hitNow → Injector). Not a filesystem; never registered with the CLI. */
#ifndef FL_BENCH_ENGINE_H
#define FL_BENCH_ENGINE_H

#include "faultline.h"

const fl_engine *fl_bench_engine(void);

#endif
