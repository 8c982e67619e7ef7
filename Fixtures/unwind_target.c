// Unwind-table fixture (gcc -O2 -fomit-frame-pointer -fasynchronous-unwind-tables):
// code without frame pointers whose .eh_frame has the row kinds the table reduces:
// rsp-based frames (a call chain, pushes of callee-saved registers), an rbp-based
// frame (alloca), a realigned frame (32-byte aligned locals with a variable-length
// array: CFA through DRAP, a deref expression), and lazy-PLT calls into libc (the
// PLT expression). Run, it prints a checksum; UnwindTableAgreesWithReadelfTests
// only reads it.
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) long leaf(long x) { return x * 7 + 3; }

__attribute__((noinline)) long chain3(long x) { return leaf(x) + leaf(x + 1); }
__attribute__((noinline)) long chain2(long x) { return chain3(x) * 2 + 1; }
__attribute__((noinline)) long chain1(long x) { return chain2(x) - chain3(x + 2); }

__attribute__((noinline)) long with_alloca(long n) {
    char *buffer = alloca((size_t)n + 16);
    memset(buffer, (int)n, (size_t)n + 16);
    return chain1(buffer[n / 2]);
}

__attribute__((noinline)) long aligned_locals(long n) {
    double vla[n];
    __attribute__((aligned(32))) double block[8];
    for (long i = 0; i < 8; i++) block[i] = (double)(i + n);
    for (long i = 0; i < n; i++) vla[i] = block[i % 8];
    return chain1((long)vla[n - 1]) + (long)block[3];
}

__attribute__((noinline)) long saves_registers(long a, long b, long c) {
    long r = 0;
    for (long i = 0; i < a; i++) r += chain1(i ^ b) * c + leaf(r);
    return r;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 9;
    long total = with_alloca(n) + aligned_locals(n) + saves_registers(n, argc, 3);
    printf("%ld\n", total);
    return 0;
}
