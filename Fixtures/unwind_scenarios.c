/* Known stacks without frame pointers (gcc -O2 -fomit-frame-pointer, also in
 * libunwind_hop.so, called through a lazy PLT). `unwind_scenarios MODE` ends,
 * in every mode, in checkpoint(), which spins (or reads /dev/zero) forever:
 *   chain   main -> chain1 -> ... -> chain6 -> hop_in_library (PLT) -> after_hop -> checkpoint
 *   signal  main spins; a SIGALRM handler runs chain4 -> chain5 -> chain6 -> ... -> checkpoint
 *   thread  a pthread runs chain1 -> ... -> checkpoint (its stack ends at clone3)
 *   aligned main -> aligned_locals (32-byte aligned locals: a realigned frame) -> checkpoint
 *   alloca  main -> with_alloca (a variable-size frame) -> checkpoint
 *   read    main -> chain1 -> ... -> checkpoint, which reads /dev/zero in a loop (samples in the kernel)
 * Tests compare the agent's stack at checkpoint with gdb's `bt`. */
#include <alloca.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

typedef unsigned long (*callback_fn)(unsigned long);
unsigned long hop_in_library(callback_fn next, unsigned long n);

static int reading;
volatile unsigned long sink;

__attribute__((noinline)) unsigned long checkpoint(unsigned long n)
{
	static char buffer[1 << 16];
	int fd = reading ? open("/dev/zero", O_RDONLY) : -1;
	unsigned long x = n;
	for (;;) {
		if (fd >= 0) {
			if (read(fd, buffer, sizeof(buffer)) < 0 || buffer[n & 1])
				break;
			continue;
		}
		for (unsigned long i = 0; i < 100000; i++)
			x = x * 6364136223846793005UL + i;
		sink = x;
		if (sink == 42) /* never: keeps the loop from being a tail */
			break;
	}
	return x;
}

__attribute__((noinline)) unsigned long after_hop(unsigned long n) { return checkpoint(n + 1) + 1; }

#define LEVEL(name, next)                                             \
	__attribute__((noinline)) unsigned long name(unsigned long n) \
	{                                                             \
		volatile char pad[40];                                \
		pad[n & 7] = (char)n;                                 \
		return next(n + pad[n & 7]) + 1;                      \
	}

__attribute__((noinline)) unsigned long chain6(unsigned long n) { return hop_in_library(after_hop, n) + 1; }
LEVEL(chain5, chain6)
LEVEL(chain4, chain5)
LEVEL(chain3, chain4)
LEVEL(chain2, chain3)
LEVEL(chain1, chain2)

__attribute__((noinline)) unsigned long aligned_locals(unsigned long n)
{
	char block[64] __attribute__((aligned(32)));
	memset(block, (int)n, sizeof(block));
	__asm__ volatile("" : : "r"(block) : "memory");
	return checkpoint(n + block[n & 63]) + 1;
}

__attribute__((noinline)) unsigned long with_alloca(unsigned long n)
{
	char *block = alloca(64 + (n & 255));
	memset(block, (int)n, 64);
	__asm__ volatile("" : : "r"(block) : "memory");
	return checkpoint(n + block[n & 63]) + 1;
}

static void on_alarm(int signal) { sink = chain4((unsigned long)signal); }

static void *thread_main(void *arg) { return (void *)chain1((unsigned long)arg); }

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "chain";
	if (!strcmp(mode, "signal")) {
		signal(SIGALRM, on_alarm);
		struct itimerval timer = { .it_value = { .tv_usec = 50000 } };
		setitimer(ITIMER_REAL, &timer, NULL);
		for (;;)
			sink++;
	}
	if (!strcmp(mode, "thread")) {
		pthread_t thread;
		pthread_create(&thread, NULL, thread_main, (void *)7);
		pthread_join(thread, NULL);
		return 0;
	}
	if (!strcmp(mode, "aligned"))
		return (int)aligned_locals((unsigned long)argc);
	if (!strcmp(mode, "alloca"))
		return (int)with_alloca((unsigned long)argc);
	reading = !strcmp(mode, "read");
	return (int)chain1((unsigned long)argc);
}
