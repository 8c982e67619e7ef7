/* A short-lived process for churn tests: resolves "localhost" (getaddrinfo:
 * DNS uprobes, from /etc/hosts, no network), makes a few syscalls, burns about
 * SPIN_MS of CPU (CPU samples), sleeps 10 ms (off-CPU), and exits.
 * Usage: churn_child [spin-ms] */
#include <netdb.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

NOINLINE unsigned long churn_spin(double milliseconds)
{
	volatile unsigned long x = 0;
	double end = now_ms() + milliseconds;
	while (now_ms() < end)
		for (int i = 0; i < 1000; i++)
			x += i;
	return x;
}

NOINLINE void churn_resolve(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *result = 0;
	if (getaddrinfo("localhost", "80", &hints, &result) == 0)
		freeaddrinfo(result);
}

int main(int argc, char **argv)
{
	double spin = argc > 1 ? atof(argv[1]) : 3;
	churn_resolve();
	for (int i = 0; i < 8; i++)
		(void)getppid();
	churn_spin(spin);
	struct timespec ts = { 0, 10 * 1000000L };
	nanosleep(&ts, 0);
	return 0;
}
