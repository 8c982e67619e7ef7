/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What every uprobe tracer (dns.bpf.c, tls.bpf.c) shares: the per-thread
 * pending call, the span it opens, call-site records, and one latency
 * histogram per row (result or operation). */
#ifndef EVENTS_BPF_H
#define EVENTS_BPF_H

#include "events.h"
#include "latency.h"
#include "maps.bpf.h"
#include "span.bpf.h"
#include "hist.bpf.h"
#include "unwind.bpf.h"
#include "event_stack.bpf.h"

const volatile bool filter_by_pid = false;
/* Call-site records each CPU may send per second; later events still count. */
const volatile __u32 call_site_rate_per_cpu = 200;

/* A call in progress on a thread. */
struct pending_call {
	struct thread_span span;
	__u64 out_ptr; /* size_t * out-parameter of SSL_read_ex / SSL_write_ex, else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* threads killed inside a call cannot fill it */
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct pending_call);
} pending_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} event_records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EVENT_ROWS);
	__type(key, __u32);
	__type(value, struct latency_histogram);
} event_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENT_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} event_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate_budget);
} call_site_budget SEC(".maps");

/* Sends where the call was made from (see struct call_site_record). */
static __always_inline void send_call_site(struct pt_regs *ctx, const struct thread_span *span, __u32 pid, __u32 tid)
{
	if (!take_rate_budget(&call_site_budget, call_site_rate_per_cpu, span->start_ns)) {
		stat_inc(&event_stats, EVENT_STAT_CALL_SITES_SKIPPED);
		return;
	}
	struct call_site_record *record = bpf_ringbuf_reserve(&event_records, sizeof(*record), 0);
	if (!record) {
		stat_inc(&event_stats, EVENT_STAT_RECORDS_LOST);
		return;
	}
	record->type = EVENT_CALL_SITE;
	record->kind = span->kind;
	record->span_id = span->span_id;
	record->pid = pid;
	record->tid = tid;
	if (unwinder == UNWINDER_DWARF) {
		/* At the probed function's entry: its pc (exact), then the return address
		 * at rsp (at_entry: found so even in a file without a table), so the
		 * walk starts at first = 0. */
		struct unwind_regs regs = { .ip = PT_REGS_IP(ctx), .sp = PT_REGS_SP(ctx), .bp = PT_REGS_FP(ctx), .at_entry = true };
		struct unwind_walk *walked = unwind_user_stack(&regs, pid, UNWIND_SOURCE_CALL_SITE, EVENT_STACK_DEPTH);
		if (walked) {
			__u32 depth = walked->stack.depth;
			if (depth == 0 || bpf_probe_read_kernel(record->stack, sizeof(record->stack), walked->stack.frames)) {
				unwind_stat(UNWIND_SOURCE_CALL_SITE, UNWIND_STAT_STORE_FAILED);
				bpf_ringbuf_discard(record, 0);
				return;
			}
			record->first = 0;
			record->depth = depth < EVENT_STACK_DEPTH ? depth : EVENT_STACK_DEPTH;
			bpf_ringbuf_submit(record, 0);
			return;
		}
	}
	long bytes = bpf_get_stack(ctx, &record->stack[1], sizeof(record->stack) - sizeof(__u64), BPF_F_USER_STACK);
	if (bytes <= 0) {
		bpf_ringbuf_discard(record, 0);
		return;
	}
	__u64 return_address = 0;
	bpf_probe_read_user(&return_address, sizeof(return_address), (void *)PT_REGS_SP(ctx));
	record->depth = bytes / sizeof(__u64);
	if (record->depth > 1 && record->stack[2] == return_address) {
		record->first = 1; /* the kernel already put the caller in */
	} else {
		record->first = 0;
		record->stack[0] = record->stack[1];
		record->stack[1] = return_address;
		record->depth += 1;
	}
	bpf_ringbuf_submit(record, 0);
}

/* At a probed function's entry: opens the thread's event span. Returns false
 * when the process is filtered out. A call still recorded for this thread is
 * replaced: the probed functions do not nest, so it is stale (a longjmp out of
 * the function, or a thread that died inside it and whose id came back). */
static __always_inline bool begin_call(struct pt_regs *ctx, __u32 kind, __u32 detail, __u64 out_ptr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 pid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	if (filter_by_pid && !bpf_map_lookup_elem(&target_pids, &pid))
		return false;
	__u64 now = bpf_ktime_get_ns();
	struct pending_call call = {
		.span = { .span_id = new_span_id(now), .start_ns = now, .kind = kind, .detail = detail },
		.out_ptr = out_ptr,
	};
	if (bpf_map_update_elem(&pending_calls, &tid, &call, BPF_ANY))
		return false;
	bpf_map_update_elem(&event_spans, &tid, &call.span, BPF_ANY);
	send_call_site(ctx, &call.span, pid, tid);
	return true;
}

/* At the probed function's return: closes the span and returns the call (a
 * copy), or false when none was open. */
static __always_inline bool end_call(struct pending_call *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_call *call = bpf_map_lookup_elem(&pending_calls, &tid);
	if (!call)
		return false;
	*out = *call;
	bpf_map_delete_elem(&pending_calls, &tid);
	bpf_map_delete_elem(&event_spans, &tid);
	return true;
}

/* Counts a finished call in histogram row `row` (at the probed function's
 * return, `ctx`); a call due to be its bucket's exemplar sends its caller's
 * stack first (event_stack.bpf.h), taken here: the return address, then the
 * caller's chain. */
static __always_inline void record_call(struct pt_regs *ctx, __u32 row, const struct pending_call *call, __u64 bytes, __u64 now)
{
	struct latency_histogram *hist = bpf_map_lookup_elem(&event_hist, &row);
	if (!hist)
		return;
	__u64 duration = now - call->span.start_ns;
	struct unwind_regs regs = { .ip = PT_REGS_IP(ctx), .sp = PT_REGS_SP(ctx), .bp = PT_REGS_FP(ctx), .at_entry = false };
	__u64 exemplar = exemplar_span(ctx, &regs, true, hist, &call->span, duration, now, row);
	histogram_record(hist, duration, bytes, exemplar, now);
	stat_inc(&event_stats, EVENT_STAT_EVENTS);
}

/* A thread that exits inside a probed call never returns from it: forget the
 * call, so that a later thread with the same id is not labelled with its span. */
static __always_inline void forget_exiting_thread(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&pending_calls, &tid);
	bpf_map_delete_elem(&event_spans, &tid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(events_task_exit_btf, struct task_struct *task)
{
	forget_exiting_thread();
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(events_task_exit_raw, struct task_struct *task)
{
	forget_exiting_thread();
	return 0;
}

#endif /* EVENTS_BPF_H */
