// SPDX-License-Identifier: GPL-2.0
/* Syscall latency: sys_enter opens a span for the thread, sys_exit closes it
 * and counts the duration in a log2 histogram per syscall number, keeping the
 * latest event of every bucket as its exemplar. tp_btf programs, with raw_tp
 * twins for kernels where tp_btf does not attach (the agent loads one pair). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "latency.h"
#include "maps.bpf.h"
#include "span.bpf.h"
#include "hist.bpf.h"
#include "event_stack.bpf.h"

const volatile bool filter_by_pid = false;
/* Also count per process (for per-container series); off by default. */
const volatile bool per_process = false;

/* One histogram per syscall number (buckets, sum, an exemplar per bucket):
 * one lookup per event. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYSCALL_SLOTS);
	__type(key, __u32);
	__type(value, struct latency_histogram);
} syscall_hist SEC(".maps");

/* Per-process histograms, read and emptied by the agent every drain; sized by
 * the agent (1 entry when per_process is off). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct process_syscall_key);
	__type(value, struct process_syscall_value);
} syscall_process_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALL_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} syscall_stats SEC(".maps");

static __always_inline int on_enter(long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 pid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	if (filter_by_pid && !bpf_map_lookup_elem(&target_pids, &pid))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 nr = id < 0 || id >= SYSCALL_SLOTS ? SYSCALL_SLOTS - 1 : (__u32)id;
	/* A thread's record stays in the map between its syscalls (closed: span_id 0)
	 * and is rewritten in place: no hash insert/delete on the hot path. */
	struct thread_span *open = bpf_map_lookup_elem(&syscall_spans, &tid);
	if (open) {
		open->start_ns = now;
		open->kind = SPAN_SYSCALL;
		open->detail = nr;
		open->span_id = new_span_id(now); /* last: readers take a non-zero id as open */
		return 0;
	}
	struct thread_span span = { .span_id = new_span_id(now), .start_ns = now, .kind = SPAN_SYSCALL, .detail = nr };
	if (bpf_map_update_elem(&syscall_spans, &tid, &span, BPF_ANY))
		stat_inc(&syscall_stats, SYSCALL_STAT_SPANS_FULL);
	return 0;
}

/* Counts the event in the per-process map (inserting its row when new). */
static __always_inline void count_for_process(__u32 pid, __u32 nr, __u32 bucket, __u64 duration, __u64 exemplar, __u64 now)
{
	struct process_syscall_key key = { .pid = pid, .nr = nr, .bucket = bucket };
	struct process_syscall_value *value = bpf_map_lookup_elem(&syscall_process_hist, &key);
	if (!value) {
		struct process_syscall_value fresh = {};
		long err = bpf_map_update_elem(&syscall_process_hist, &key, &fresh, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST: another CPU inserted it */) {
			stat_inc(&syscall_stats, SYSCALL_STAT_PROCESS_MAP_FULL);
			return;
		}
		value = bpf_map_lookup_elem(&syscall_process_hist, &key);
		if (!value)
			return;
	}
	atomic_add_u64(&value->count, 1);
	atomic_add_u64(&value->sum_ns, duration);
	value->cgroup_id = bpf_get_current_cgroup_id();
	if (exemplar) {
		value->exemplar.span_id = exemplar;
		value->exemplar.duration_ns = duration;
		value->exemplar.end_ns = now;
	}
}

static __always_inline int on_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct thread_span *open = bpf_map_lookup_elem(&syscall_spans, &tid);
	if (!open || !open->span_id)
		return 0;
	struct thread_span span = *open;
	open->span_id = 0; /* closed; the record is reused by the thread's next syscall */

	__u64 now = bpf_ktime_get_ns();
	__u64 duration = now - span.start_ns;
	__u32 nr = span.detail < SYSCALL_SLOTS ? span.detail : SYSCALL_SLOTS - 1;
	struct latency_histogram *hist = bpf_map_lookup_elem(&syscall_hist, &nr);
	if (!hist)
		return 0;
	/* The user stack that made the syscall (the kernel's at sys_exit is only the exit path). */
	span.detail = nr;
	__u64 exemplar = exemplar_span(ctx, NULL, false, hist, &span, duration, now, nr);
	histogram_record(hist, duration, 0, exemplar, now);
	if (per_process)
		count_for_process(pid_tgid >> 32, nr, latency_bucket(duration), duration, exemplar, now);
	stat_inc(&syscall_stats, SYSCALL_STAT_EVENTS);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(syscall_enter_btf, struct pt_regs *regs, long id)
{
	return on_enter(id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscall_exit_btf, struct pt_regs *regs, long ret)
{
	return on_exit(ctx);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(syscall_enter_raw, struct pt_regs *regs, long id)
{
	return on_enter(id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(syscall_exit_raw, struct pt_regs *regs, long ret)
{
	return on_exit(ctx);
}

/* Threads that exit inside a syscall (exit, exit_group) never reach sys_exit. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(syscall_task_exit_btf, struct task_struct *task)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&syscall_spans, &tid);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(syscall_task_exit_raw, struct task_struct *task)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&syscall_spans, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
