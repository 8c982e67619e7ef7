#include "CSystemCalls.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* struct open_how of linux/openat2.h, spelled out for older headers. */
struct csys_open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};

int csys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct csys_open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = flags;
	how.resolve = resolve;
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}
