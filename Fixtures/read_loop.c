/* Loops on read(2) of /dev/zero through a raw syscall in read_chunk, so most
 * of its CPU time is in the kernel below main -> read_forever -> read_chunk.
 * Usage: read_loop [seconds]   (default: run until killed) */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static char buffer[1 << 20];

/* A raw syscall keeps this frame (and its frame pointer) the user leaf. */
NOINLINE long read_chunk(int fd, char *to, unsigned long count)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_read), "D"((long)fd), "S"(to), "d"(count)
			 : "rcx", "r11", "memory");
	return ret;
}

NOINLINE void read_forever(int fd, double seconds)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (int i = 0; i < 16; i++)
			if (read_chunk(fd, buffer, sizeof(buffer)) < 0)
				exit(1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 > seconds)
			break;
	}
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	int fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		return 1;
	read_forever(fd, argc > 1 ? atof(argv[1]) : 1e9);
	return 0;
}
