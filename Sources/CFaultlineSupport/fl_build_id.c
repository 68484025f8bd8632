#define _GNU_SOURCE
#include "fl_support.h"

#include <link.h>
#include <string.h>

struct found {
  unsigned char *out;
  size_t cap;
  size_t len;
};

/* The first object dl_iterate_phdr reports is the main program: its PT_NOTE segments, then stop. */
static int main_program(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct found *f = data;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const unsigned char *at = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    const unsigned char *end = at + ph->p_memsz;
    /* Each note moves `at` past its 12-byte header at least: the walk ends. */
    while (at + 12 <= end) {
      ElfW(Word) namesz, descsz, type;
      memcpy(&namesz, at, 4);
      memcpy(&descsz, at + 4, 4);
      memcpy(&type, at + 8, 4);
      const unsigned char *name = at + 12;
      const unsigned char *desc = name + ((namesz + 3) & ~3u);
      if (desc + descsz > end) break;
      if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        f->len = descsz < f->cap ? descsz : f->cap;
        memcpy(f->out, desc, f->len);
        return 1;
      }
      at = desc + ((descsz + 3) & ~3u);
    }
  }
  return 1;
}

size_t fl_build_id(unsigned char *out, size_t cap) {
  struct found f = {out, cap, 0};
  dl_iterate_phdr(main_program, &f);
  return f.len;
}
