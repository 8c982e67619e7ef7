/* A shared library with exported and local functions, for symbolizer tests. */
#define NOINLINE __attribute__((noinline))

volatile int fixture_counter;

static NOINLINE int fixture_lib_local_helper(int x)
{
	for (int i = 0; i < x; i++)
		fixture_counter += i;
	return fixture_counter;
}

NOINLINE int fixture_lib_alpha(int x)
{
	return fixture_lib_local_helper(x) + 1;
}

NOINLINE int fixture_lib_beta(int x)
{
	for (int i = 0; i < 3; i++)
		fixture_counter ^= x * i;
	return fixture_lib_alpha(x) * 2;
}
