/* An executable with known functions, built PIE, non-PIE, stripped to
 * .dynsym and with a separate debug file, for symbolizer tests. */
#include <stdio.h>

#define NOINLINE __attribute__((noinline))

volatile int symbols_counter;

static NOINLINE int symbols_static_worker(int n)
{
	for (int i = 0; i < n; i++)
		symbols_counter += i * 3;
	return symbols_counter;
}

NOINLINE int symbols_exported_one(int n)
{
	return symbols_static_worker(n) + 7;
}

NOINLINE int symbols_exported_two(int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += symbols_exported_one(i);
	return total;
}

NOINLINE void symbols_print(int v)
{
	printf("%d\n", v);
}

int main(int argc, char **argv)
{
	(void)argv;
	symbols_print(symbols_exported_two(argc + 3));
	return 0;
}
