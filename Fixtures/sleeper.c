/* Sleeps 50 ms in nanosleep(2) COUNT times (default 20) under the chain
 * main -> sleeper_loop -> sleep_once, after waiting DELAY seconds (default 1)
 * so that a tracer can attach to it first. The raw syscall keeps sleep_once
 * the user leaf with a frame pointer.
 * Usage: sleeper [delay-seconds] [count] */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

NOINLINE long sleep_once(long milliseconds)
{
	struct timespec ts = { .tv_sec = milliseconds / 1000, .tv_nsec = (milliseconds % 1000) * 1000000L };
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_nanosleep), "D"(&ts), "S"(0L)
			 : "rcx", "r11", "memory");
	return ret;
}

NOINLINE void sleeper_loop(int count)
{
	for (int i = 0; i < count; i++)
		sleep_once(50);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	double delay = argc > 1 ? atof(argv[1]) : 1;
	struct timespec ts = { .tv_sec = (time_t)delay, .tv_nsec = (long)((delay - (time_t)delay) * 1e9) };
	nanosleep(&ts, NULL);
	sleeper_loop(argc > 2 ? atoi(argv[2]) : 20);
	return 0;
}
