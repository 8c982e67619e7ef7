/* System calls glibc has no wrapper for, which Swift cannot reach through the
 * variadic syscall(). No libbpf here: the Symbolizer library uses it. */
#ifndef CSYSTEMCALLS_H
#define CSYSTEMCALLS_H

#include <stdint.h>

/* RESOLVE_* of openat2(2) (linux/openat2.h), for headers older than Linux 5.6. */
#define CSYS_RESOLVE_NO_MAGICLINKS 0x02
#define CSYS_RESOLVE_IN_ROOT 0x10
/* O_PATH of <fcntl.h>, which Swift's Glibc module only has with _GNU_SOURCE. */
#define CSYS_O_PATH 010000000

/* openat2(2): opens `path` relative to `dirfd` with open(2) `flags` and the
 * RESOLVE_* `resolve` rules. Returns the fd, or -errno (-ENOSYS before Linux 5.6). */
int csys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

#endif
