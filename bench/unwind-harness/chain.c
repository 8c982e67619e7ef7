/* Harness target, built with gcc -O2 -fomit-frame-pointer. `chain [MODE]`:
 *   chain   (default) main -> chain1 -> ... -> chain6 -> leaf (a loop)
 *   read    main -> chain1 .. chain6 -> reader: read(/dev/zero) in a loop (samples in kernel mode)
 *   signal  main spins in spin(); a SIGALRM handler runs chain4 -> ... -> leaf (through __restore_rt)
 *   thread  a pthread runs chain1 -> ... -> leaf (its stack ends at clone3)
 *   sleep   main -> chain1 .. chain6 -> leaf: usleep(2 ms) in a loop (off-CPU stacks)
 *   dns     main -> chain1 .. chain6 -> leaf: getaddrinfo("localhost") in a loop (call sites)
 *   deep    main -> deep x 200 -> leaf (more frames than UNWIND_MAX_DEPTH: truncated) */
#include <netdb.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mode_read, mode_sleep, mode_dns;

volatile unsigned long sink;

__attribute__((noinline)) unsigned long reader(unsigned long n)
{
	static char buf[1 << 16];
	int fd = open("/dev/zero", O_RDONLY);
	for (;;) {
		if (read(fd, buf, sizeof(buf)) < 0 || buf[n & 1])
			break;
	}
	return n;
}

__attribute__((noinline)) unsigned long leaf(unsigned long n)
{
	if (mode_read)
		return reader(n) + 1;
	while (mode_sleep)
		usleep(2000);
	while (mode_dns) {
		struct addrinfo *res;
		if (getaddrinfo("localhost", "80", NULL, &res) == 0)
			freeaddrinfo(res);
		usleep(10000);
	}
	unsigned long x = n;
	for (;;) {
		for (unsigned long i = 0; i < 100000; i++)
			x = x * 6364136223846793005UL + i;
		sink = x;
		if (sink == 42) /* never: keeps the loop from being a tail */
			break;
	}
	return x;
}

#define LEVEL(name, next)                                              \
	__attribute__((noinline)) unsigned long name(unsigned long n)  \
	{                                                              \
		volatile char pad[40];                                 \
		pad[n & 7] = (char)n;                                  \
		unsigned long r = next(n + pad[1]);                    \
		sink = r;                                              \
		return r + pad[2];                                     \
	}

LEVEL(chain6, leaf)
LEVEL(chain5, chain6)
LEVEL(chain4, chain5)
LEVEL(chain3, chain4)
LEVEL(chain2, chain3)
LEVEL(chain1, chain2)

__attribute__((noinline)) unsigned long deep(unsigned long n)
{
	volatile char pad[24];
	pad[n & 7] = (char)n;
	unsigned long r = n ? deep(n - 1) : leaf(n);
	return r + pad[1];
}

static void on_alarm(int sig)
{
	sink = chain4(sig);
}

__attribute__((noinline)) void spin(void)
{
	for (;;)
		sink++;
}

static void *thread_main(void *arg)
{
	sink = chain1((unsigned long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "chain";
	if (!strcmp(mode, "signal")) {
		signal(SIGALRM, on_alarm);
		alarm(1);
		spin();
	} else if (!strcmp(mode, "deep")) {
		sink = deep(200);
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;
		pthread_create(&t, NULL, thread_main, (void *)1);
		pthread_join(t, NULL);
	} else {
		mode_read = !strcmp(mode, "read");
		mode_sleep = !strcmp(mode, "sleep");
		mode_dns = !strcmp(mode, "dns");
		sink = chain1(1);
	}
	printf("%lu\n", (unsigned long)sink);
	return 0;
}
