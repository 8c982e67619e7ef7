/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Log2 latency buckets shared by the tracers. */
#ifndef HIST_BPF_H
#define HIST_BPF_H

#include "latency.h"

/* Bucket of a duration: 0 for <= 1 us, i for (2^(i-1), 2^i] us, the last one
 * (LATENCY_BUCKETS - 1) for everything above 2^(LATENCY_BUCKETS-2) us: +Inf. */
static __always_inline __u32 latency_bucket(__u64 ns)
{
	__u64 us = (ns + 999) / 1000; /* round up: a bucket holds values <= its bound */
	if (us <= 1)
		return 0;
	__u64 v = us - 1;
	__u32 bits = 0;
	if (v >> 32) { v >>= 32; bits += 32; }
	if (v >> 16) { v >>= 16; bits += 16; }
	if (v >> 8)  { v >>= 8;  bits += 8; }
	if (v >> 4)  { v >>= 4;  bits += 4; }
	if (v >> 2)  { v >>= 2;  bits += 2; }
	if (v >> 1)  { bits += 1; }
	bits += 1; /* ceil(log2(us)) */
	return bits < LATENCY_BUCKETS - 1 ? bits : LATENCY_BUCKETS - 1;
}

/* Counts one event of `duration` ns (and `bytes`) in `hist`; the event becomes
 * its bucket's exemplar when it has a span. */
static __always_inline void histogram_record(struct latency_histogram *hist, __u64 duration, __u64 bytes, __u64 span, __u64 now)
{
	__u32 bucket = latency_bucket(duration);
	if (bucket >= LATENCY_BUCKETS)
		return;
	atomic_add_u64(&hist->buckets[bucket], 1);
	atomic_add_u64(&hist->sum_ns, duration);
	if (bytes)
		atomic_add_u64(&hist->bytes, bytes);
	if (span) {
		hist->exemplars[bucket].span_id = span;
		hist->exemplars[bucket].duration_ns = duration;
		hist->exemplars[bucket].end_ns = now;
	}
}

#endif /* HIST_BPF_H */
