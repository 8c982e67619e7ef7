/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Stacks of the events that become exemplars (event_stack.h). The ring buffer,
 * the counters and the per-CPU rate are shared by every tracer (created by the
 * agent, adopted by name); the decision is per histogram bucket: an event
 * takes its stacks when its bucket's exemplar is at least exemplar_interval_ns
 * old, and becomes the exemplar only once they are sent. */
#ifndef EVENT_STACK_BPF_H
#define EVENT_STACK_BPF_H

#include "event_stack.h"
#include "latency.h"
#include "maps.bpf.h"
#include "span.h"
#include "hist.bpf.h"
#include "unwind.bpf.h"

/* A bucket takes a new exemplar (and its stacks) at most this often; 0: no
 * stacks are taken and every event with a span is its bucket's exemplar. */
const volatile __u64 exemplar_interval_ns = 1000000000ULL;
/* Event stacks each CPU may send per second, per tracer (each kind has its own
 * budget: a busy tracer's many buckets must not starve a rare DNS lookup's). */
const volatile __u32 event_stack_rate_per_cpu = 32;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* EVENT_STACK_DEFAULT_RING, set by the agent */
} event_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENT_STACK_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} event_stack_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENT_STACK_KINDS);
	__type(key, __u32);
	__type(value, struct rate_budget);
} event_stack_budget SEC(".maps");

/* Whether an event ending now in the bucket whose exemplar is `exemplar` is
 * due to take its stacks. */
static __always_inline bool exemplar_due(const struct latency_exemplar *exemplar, __u64 now)
{
	return exemplar_interval_ns && now - exemplar->end_ns >= exemplar_interval_ns;
}

/* Takes the current thread's stacks for the event of `span` and sends them.
 * `regs`: the user registers (a uprobe's), NULL for the current task's own
 * (a tracepoint in a syscall). `kernel`: also the kernel stack (where it says
 * what the event did, e.g. the block I/O issue path). Returns whether a record
 * was sent: only then may the event become an exemplar. */
static __always_inline bool send_event_stack(void *ctx, const struct unwind_regs *regs, bool leaf_is_return, bool kernel,
					     __u64 span_id, __u64 start_ns, __u64 duration, __u32 kind, __u32 detail, __u32 detail2)
{
	__u64 now = bpf_ktime_get_ns();
	if (!take_rate_budget_slot(&event_stack_budget, kind < EVENT_STACK_KINDS ? kind : 0, event_stack_rate_per_cpu, now)) {
		stat_inc(&event_stack_stats, EVENT_STACK_STAT_RATE);
		return false;
	}
	struct event_stack_record *record = bpf_ringbuf_reserve(&event_stacks, sizeof(*record), 0);
	if (!record) {
		stat_inc(&event_stack_stats, EVENT_STACK_STAT_RING_FULL);
		return false;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	record->span_id = span_id;
	record->start_ns = start_ns;
	record->duration_ns = duration;
	record->pid = pid_tgid >> 32;
	record->tid = (__u32)pid_tgid;
	record->kind = kind;
	record->detail = detail;
	record->detail2 = detail2;
	record->user_kind = EVENT_STACK_USER_NONE;
	record->user_depth = 0;
	record->user_flags = 0;
	record->kernel_depth = 0;
	record->leaf_is_return = leaf_is_return;
	bpf_get_current_comm(record->comm, sizeof(record->comm));
	if (kernel) {
		long bytes = bpf_get_stack(ctx, record->kernel, sizeof(record->kernel), 0);
		record->kernel_depth = bytes > 0 ? bytes / sizeof(__u64) : 0;
	}
	if (unwinder == UNWINDER_DWARF) {
		struct unwind_regs own;
		if (!regs && unwind_regs_of_current_task(&own))
			regs = &own;
		struct unwind_walk *walked = regs ? unwind_user_stack(regs, record->pid, UNWIND_SOURCE_EVENT, UNWIND_MAX_DEPTH) : NULL;
		if (walked) {
			__u32 depth = walked->stack.depth;
			if (depth > 0 && depth <= UNWIND_MAX_DEPTH &&
			    !bpf_probe_read_kernel(record->user, sizeof(record->user), walked->stack.frames)) {
				record->user_kind = EVENT_STACK_USER_TABLE;
				record->user_depth = depth;
				record->user_flags = walked->stack.flags;
			}
		}
	}
	if (record->user_kind == EVENT_STACK_USER_NONE) {
		long bytes = bpf_get_stack(ctx, record->user, sizeof(record->user), BPF_F_USER_STACK);
		if (bytes > 0) {
			record->user_kind = EVENT_STACK_USER_FP;
			record->user_depth = bytes / sizeof(__u64);
		}
	}
	if (record->user_depth == 0 && record->kernel_depth == 0) {
		stat_inc(&event_stack_stats, EVENT_STACK_STAT_EMPTY);
		bpf_ringbuf_discard(record, 0);
		return false;
	}
	bpf_ringbuf_submit(record, 0);
	stat_inc(&event_stack_stats, EVENT_STACK_STAT_SENT);
	return true;
}

/* The span an event ending now leaves as its bucket's exemplar (0: the bucket
 * keeps its older one): with stacks on, only an event that is due and whose
 * stacks were sent; with them off, every event. */
static __always_inline __u64 exemplar_span(void *ctx, const struct unwind_regs *regs, bool leaf_is_return,
					   const struct latency_histogram *hist, const struct thread_span *span,
					   __u64 duration, __u64 now, __u32 detail)
{
	if (!exemplar_interval_ns)
		return span->span_id;
	__u32 bucket = latency_bucket(duration);
	if (bucket >= LATENCY_BUCKETS || !exemplar_due(&hist->exemplars[bucket], now))
		return 0;
	return send_event_stack(ctx, regs, leaf_is_return, false, span->span_id, span->start_ns, duration, span->kind, detail, 0)
		       ? span->span_id : 0;
}

#endif /* EVENT_STACK_BPF_H */
