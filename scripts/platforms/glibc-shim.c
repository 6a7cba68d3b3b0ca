/*
 * Preloaded into musl Bun (scripts/platforms/bun-musl.sh) on this glibc
 * development machine only. Debian's libstdc++.so.6 and libgcc_s.so.1 are
 * built against glibc and need a few symbols that musl does not define. This
 * file gives the minimum for the test suite to run; it is a test harness,
 * never shipped, and it is why the musl rows say "compatibility layer".
 */
#define _GNU_SOURCE
#include <link.h>
#include <locale.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>

/* libstdc++ reads it to skip atomics; 0 = "maybe threaded", always safe. */
char __libc_single_threaded = 0;

/* aarch64 libstdc++ reads the hwcaps through glibc's internal alias. */
unsigned long __getauxval(unsigned long type) { return getauxval(type); }

uint32_t arc4random(void) {
  uint32_t out = 0;
  (void)getrandom(&out, sizeof out, 0);
  return out;
}

size_t __strftime_l(char *buf, size_t len, const char *fmt, const struct tm *tm, locale_t loc) {
  return strftime_l(buf, len, fmt, tm, loc);
}

/* thread_local destructors are not run (a leak at thread exit, fine for tests). */
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) {
  (void)dtor;
  (void)obj;
  (void)dso;
  return 0;
}

/* libgcc's CPU feature probe: report "nothing known". */
struct cpu_model_shim {
  unsigned int vendor, type, subtype, features[1];
} __cpu_model;
int __cpu_indicator_init(void) { return 0; }

/* glibc 2.35's _dl_find_object, used by libgcc_s to find unwind tables;
 * answered with dl_iterate_phdr, which musl has. */
struct dl_find_object {
  unsigned long long flags;
  void *map_start, *map_end, *link_map, *eh_frame, *dbase;
  unsigned long long reserved[7];
};
struct lookup {
  uintptr_t pc;
  struct dl_find_object *out;
  int found;
};
static int visit(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct lookup *l = data;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  void *eh = NULL;
  int contains = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) {
      uintptr_t end = start + ph->p_memsz;
      lo = start < lo ? start : lo;
      hi = end > hi ? end : hi;
      contains |= l->pc >= start && l->pc < end;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh = (void *)start;
    }
  }
  if (!contains) return 0;
  memset(l->out, 0, sizeof *l->out);
  l->out->map_start = (void *)lo;
  l->out->map_end = (void *)hi;
  l->out->eh_frame = eh;
  l->found = 1;
  return 1;
}
int _dl_find_object(void *pc, struct dl_find_object *out) {
  struct lookup l = {(uintptr_t)pc, out, 0};
  dl_iterate_phdr(visit, &l);
  return l.found ? 0 : -1;
}
