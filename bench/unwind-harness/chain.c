/* Harness target: gcc -O2 -fomit-frame-pointer, a 6-deep chain into a leaf loop. */
#include <stdio.h>
#include <stdlib.h>

volatile unsigned long sink;

__attribute__((noinline)) unsigned long leaf(unsigned long n)
{
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

int main(int argc, char **argv)
{
	unsigned long r = chain1(argc > 1 ? strtoul(argv[1], 0, 0) : 1);
	printf("%lu\n", r);
	return 0;
}
