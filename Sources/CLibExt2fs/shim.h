// libext2fs (e2fsprogs), for the ext2fs engine. Debian: libext2fs-dev.
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>
