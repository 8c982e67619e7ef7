/* Spends CPU 3:1 in burn_three_quarters / burn_one_quarter under the fixed
 * chain main -> run_workload -> spin_dispatch -> burn_*. Both leaves run the
 * same instruction sequence; spin_dispatch calls one three times per call of
 * the other, every ~30 us, so any 97 Hz sampler sees a 75/25 split.
 * Usage: cpu_split [seconds]   (default: run until killed) */
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define WORK 8192

volatile unsigned long sink;

NOINLINE void burn_three_quarters(void)
{
	unsigned long x = sink;
	for (int i = 0; i < WORK; i++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

NOINLINE void burn_one_quarter(void)
{
	unsigned long x = sink;
	for (int i = 0; i < WORK; i++) {
		x = x * 2862933555777941757UL + 3037000493UL;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
}

NOINLINE void spin_dispatch(void)
{
	burn_three_quarters();
	burn_three_quarters();
	burn_three_quarters();
	burn_one_quarter();
	__asm__ volatile("" ::: "memory"); /* keep the last call out of tail position */
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

NOINLINE void run_workload(double seconds)
{
	double end = now() + seconds;
	while (now() < end) {
		for (int i = 0; i < 64; i++)
			spin_dispatch();
	}
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	run_workload(argc > 1 ? atof(argv[1]) : 1e9);
	return 0;
}
