/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and helpers shared by every object that reads or writes spans. The
 * agent creates each map once (with the profile object) and hands the same fd
 * to the other objects (bpf_map__reuse_fd), so all programs see one map. */
#ifndef SPAN_BPF_H
#define SPAN_BPF_H

#include "span.h"

/* Processes to trace when filter_by_pid is set (shared with the sampler). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} target_pids SEC(".maps");

/* tid -> the syscall in progress on that thread (span_id 0 between syscalls: the
 * record is reused in place). LRU: threads that vanished cannot fill it up. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct thread_span);
} syscall_spans SEC(".maps");

/* tid -> the library-call event (DNS lookup, TLS operation) in progress on
 * that thread; it encloses the syscalls made inside the call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thread_span);
} event_spans SEC(".maps");

/* Mixed into span ids so ids differ between hosts (set from the boot id). */
const volatile __u64 span_salt = 0;
/* A CPU sample carries the span of its thread's syscall only once that syscall
 * has lasted this long: short events do not split the aggregation. */
const volatile __u64 span_min_ns = 1000000;

/* A fresh span id: CPU number and monotonic time, unique on this boot, salted. */
static __always_inline __u64 new_span_id(__u64 now)
{
	__u64 id = (((__u64)bpf_get_smp_processor_id() & 0xff) << 56 | (now & 0x00ffffffffffffffULL)) ^ span_salt;
	return id ? id : 1;
}

/* The span a thread's stacks are labelled with: its library-call event if any
 * (a DNS lookup encloses its syscalls), else its syscall; NULL when none. */
static __always_inline struct thread_span *thread_span_of(__u32 tid)
{
	struct thread_span *span = bpf_map_lookup_elem(&event_spans, &tid);
	if (span)
		return span;
	span = bpf_map_lookup_elem(&syscall_spans, &tid);
	return span && span->span_id ? span : NULL; /* span_id 0: between syscalls */
}

/* The span of the event the current thread is in, 0 when none or younger than span_min_ns. */
static __always_inline __u64 current_span(__u32 tid, __u64 now)
{
	struct thread_span *span = thread_span_of(tid);
	return span && now - span->start_ns >= span_min_ns ? span->span_id : 0;
}

#endif /* SPAN_BPF_H */
