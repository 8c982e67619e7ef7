/* A shared library without frame pointers that the unwind_scenarios fixture
 * calls through a lazy PLT: hop_in_library() calls back into the program. */
typedef unsigned long (*callback_fn)(unsigned long);

__attribute__((noinline)) unsigned long hop_in_library(callback_fn next, unsigned long n)
{
	volatile unsigned long keep = n * 3;
	return next(keep) + keep; /* not a tail call */
}
