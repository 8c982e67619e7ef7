// SPDX-License-Identifier: GPL-2.0
/* Block I/O latency: block_rq_issue stamps the request, block_rq_complete
 * counts issue→completion time per (device, operation) in log2 buckets, with
 * a recent request of each bucket as exemplar (its span: the syscall of the
 * thread that issued it, or its own). A request's stacks (kernel: the issue
 * path; user: the issuing thread's) can only be taken at issue, before its
 * bucket is known: a few requests per second per CPU take them, and only
 * those can become exemplars. The tracepoints' arguments changed in 5.11 (the
 * request queue argument went away); CO-RE picks the layout of the running kernel. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "latency.h"
#include "maps.bpf.h"
#include "span.bpf.h"
#include "hist.bpf.h"
#include "event_stack.bpf.h"

#define REQ_OP_MASK ((1 << 8) - 1)
#define MINORBITS 20

/* Layouts before 5.11: (struct request_queue *q, struct request *rq, ...). */
typedef void (*btf_trace_block_rq_issue___old)(void *, struct request_queue *, struct request *);
typedef void (*btf_trace_block_rq_complete___old)(void *, struct request_queue *, struct request *, unsigned int);

/* Before 5.17 the disk hung off the request itself. */
struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

struct io_start {
	__u64 start_ns;
	__u64 span_id;
	__u64 stacked; /* its stacks were sent (event_stack.bpf.h) */
};

/* Requests per second and CPU that take their stacks at issue. */
const volatile __u32 io_stack_rate_per_cpu = 16;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate_budget);
} io_stack_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* requests never completed must not fill it */
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct io_start);
} io_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct io_key);
	__type(value, struct latency_histogram);
} io_hist SEC(".maps");

static __always_inline __u32 request_dev(struct request *rq)
{
	struct gendisk *disk;
	struct request___old *old = (void *)rq;
	if (bpf_core_field_exists(old->rq_disk))
		disk = BPF_CORE_READ(old, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return 0;
	return (__u32)BPF_CORE_READ(disk, major) << MINORBITS | (__u32)BPF_CORE_READ(disk, first_minor);
}

/* Only requests issued by target_pids processes (the sampler's pid filter). */
const volatile bool filter_io_by_pid = false;

static __always_inline int on_issue(void *ctx, struct request *rq)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	if (filter_io_by_pid) {
		__u32 pid = id >> 32;
		if (!bpf_map_lookup_elem(&target_pids, &pid))
			return 0;
	}
	__u32 tid = (__u32)id;
	struct thread_span *span = thread_span_of(tid);
	struct io_start start = { .start_ns = now, .span_id = span ? span->span_id : 0 };
	if (exemplar_interval_ns && take_rate_budget(&io_stack_budget, io_stack_rate_per_cpu, now)) {
		if (!start.span_id)
			start.span_id = new_span_id(now);
		start.stacked = send_event_stack(ctx, NULL, false, true, start.span_id, now, 0, EVENT_STACK_BLOCK_IO,
						 request_dev(rq), BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK);
	}
	__u64 key = (__u64)rq;
	bpf_map_update_elem(&io_starts, &key, &start, BPF_ANY);
	return 0;
}

static __always_inline int on_complete(struct request *rq, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct io_start *start = bpf_map_lookup_elem(&io_starts, &key);
	if (!start)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 duration = now - start->start_ns;
	__u64 span = start->span_id, stacked = start->stacked;
	bpf_map_delete_elem(&io_starts, &key);

	struct io_key hist_key = {
		.dev = request_dev(rq),
		.op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK,
	};
	struct latency_histogram *hist = bpf_map_lookup_elem(&io_hist, &hist_key);
	if (!hist) {
		static const struct latency_histogram zero = {};
		bpf_map_update_elem(&io_hist, &hist_key, &zero, BPF_NOEXIST);
		hist = bpf_map_lookup_elem(&io_hist, &hist_key);
		if (!hist)
			return 0;
	}
	if (exemplar_interval_ns) {
		__u32 bucket = latency_bucket(duration);
		if (!stacked || bucket >= LATENCY_BUCKETS || !exemplar_due(&hist->exemplars[bucket], now))
			span = 0; /* the bucket keeps its older exemplar */
	}
	histogram_record(hist, duration, nr_bytes, span, now);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(blockio_issue_btf)
{
	if (bpf_core_type_matches(btf_trace_block_rq_issue___old))
		return on_issue(ctx, (struct request *)ctx[1]);
	return on_issue(ctx, (struct request *)ctx[0]);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(blockio_complete_btf)
{
	if (bpf_core_type_matches(btf_trace_block_rq_complete___old))
		return on_complete((struct request *)ctx[1], (unsigned int)ctx[2]);
	return on_complete((struct request *)ctx[0], (unsigned int)ctx[2]);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(blockio_issue_raw)
{
	if (bpf_core_type_matches(btf_trace_block_rq_issue___old))
		return on_issue(ctx, (struct request *)ctx[1]);
	return on_issue(ctx, (struct request *)ctx[0]);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(blockio_complete_raw)
{
	if (bpf_core_type_matches(btf_trace_block_rq_complete___old))
		return on_complete((struct request *)ctx[1], (unsigned int)ctx[2]);
	return on_complete((struct request *)ctx[0], (unsigned int)ctx[2]);
}

char LICENSE[] SEC("license") = "GPL";
