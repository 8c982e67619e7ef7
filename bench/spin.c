/* A fixed CPU-bound workload for the profiling-cost benchmark: THREADS threads
 * hash in a loop for SECONDS and the total number of 64 Ki-iteration chunks
 * done is printed (throughput: compare it with and without a profiler).
 * Usage: spin THREADS SECONDS */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_int stop;
static atomic_ullong chunks;

__attribute__((noinline)) static uint64_t hash_chunk(uint64_t x)
{
	for (int i = 0; i < 65536; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg | 1, done = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		x = hash_chunk(x);
		done++;
	}
	atomic_fetch_add(&chunks, done);
	return (void *)(uintptr_t)x;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s THREADS SECONDS\n", argv[0]);
		return 2;
	}
	int threads = atoi(argv[1]);
	double seconds = atof(argv[2]);
	pthread_t ids[256];
	if (threads < 1 || threads > 256)
		return 2;
	for (int i = 0; i < threads; i++)
		pthread_create(&ids[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(ids[i], NULL);
	printf("%llu\n", (unsigned long long)atomic_load(&chunks));
	return 0;
}
