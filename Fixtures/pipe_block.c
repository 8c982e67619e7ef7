/* Blocks on a pipe read in wait_for_pipe (main -> consume_forever ->
 * wait_for_pipe) while a child writes one byte every 20 ms, so nearly all of
 * the parent's time is off-CPU in that function. Raw read syscall: the frame
 * pointer chain stays complete.
 * Usage: pipe_block [seconds]   (default: run until killed) */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

NOINLINE long wait_for_pipe(int fd, char *byte)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_read), "D"((long)fd), "S"(byte), "d"(1L)
			 : "rcx", "r11", "memory");
	return ret;
}

NOINLINE void consume_forever(int fd)
{
	char byte;
	while (wait_for_pipe(fd, &byte) == 1)
		;
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	int fds[2];
	if (pipe(fds))
		return 1;
	if (fork() == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		double seconds = argc > 1 ? atof(argv[1]) : 1e9;
		struct timespec tick = { 0, 20 * 1000000L };
		for (double t = 0; t < seconds; t += 0.02) {
			if (write(fds[1], "x", 1) != 1)
				return 0;
			nanosleep(&tick, NULL);
		}
		return 0; /* closing the pipe ends the parent */
	}
	close(fds[1]);
	consume_forever(fds[0]);
	return 0;
}
