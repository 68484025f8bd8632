#ifndef FL_EXT2FS_H
#define FL_EXT2FS_H

#include "faultline.h"

/* Engine `ext2fs`: the real libext2fs (e2fsprogs) through the C ABI, e2fsck as its oracle. */
const fl_engine *fl_ext2fs_engine(void);

/* Forgets the e2fsck verdicts cached by image content (benchmarks start each round cold). */
void fl_ext2fs_forget_verdicts(void);

#endif
