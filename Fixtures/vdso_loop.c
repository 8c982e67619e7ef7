/* Calls clock_gettime(CLOCK_MONOTONIC) in a loop for argv[1] seconds (default 30): nearly all
 * of its time is in the kernel's vDSO ([vdso]), which names like __vdso_clock_gettime must
 * name in its samples. */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void read_clocks(void) {
    struct timespec now;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        sink += (unsigned long)now.tv_nsec;
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        read_clocks();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return 0;
}
