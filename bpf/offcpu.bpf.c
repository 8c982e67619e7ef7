// SPDX-License-Identifier: GPL-2.0
/* Off-CPU time: when a thread leaves the CPU (sched_switch, prev) its stacks
 * and current span are recorded; when it comes back (next) the time away is
 * added to `offcpu_counts` under (pid, tid, stacks, span) if it blocked for at
 * least min_block_ns. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#include "maps.bpf.h"
#include "span.bpf.h"
#include "unwind.bpf.h"

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

const volatile bool filter_by_pid = false;
const volatile bool exclude_kernel_threads = true;
const volatile __u64 min_block_ns = 1000000;
/* Blocks at least this long keep the span of their syscall (so exemplars lead
 * to them), at most span_rate_per_cpu a second on each CPU; others aggregate. */
const volatile __u64 offcpu_span_min_ns = 10000000;
const volatile __u32 span_rate_per_cpu = 100;

struct offcpu_start {
	__u64 start_ns;
	__u64 span_id;
	__u64 span_start_ns;
	__u64 user_stack_hash; /* unwinder = dwarf: key in offcpu_user_stacks, else 0 */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 pid;
	char comm[PROFILE_COMM_LEN];
};

/* LRU: a thread that never runs again (killed while blocked) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* threads off-CPU at once */
	__type(key, __u32);
	__type(value, struct offcpu_start);
} offcpu_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate_budget);
} offcpu_span_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the agent before load */
	__type(key, struct profile_key);
	__type(value, __u64);
} offcpu_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384); /* resized by the agent before load */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} offcpu_stacks SEC(".maps");

/* Table-unwound user stacks (unwinder = dwarf): like offcpu_stacks, valid
 * across drains (a stack is taken at switch-out, counted at switch-in), so
 * not shared with the CPU sampler's user_stacks, which is cleared per drain. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_USER_STACKS when unwinder = dwarf */
	__type(key, __u64);
	__type(value, struct unwind_stack);
} offcpu_user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} offcpu_stats SEC(".maps");

static __always_inline void switch_out(void *ctx, struct task_struct *prev, __u64 now)
{
	__u32 tid = BPF_CORE_READ(prev, pid), pid = BPF_CORE_READ(prev, tgid);
	if (tid == 0)
		return;
	if (filter_by_pid && !bpf_map_lookup_elem(&target_pids, &pid))
		return;
	__u32 flags = BPF_CORE_READ(prev, flags);
	if (exclude_kernel_threads && (flags & PF_KTHREAD))
		return;
	if (flags & PF_EXITING) /* its last switch: it will not come back */
		return;
	struct offcpu_start start = {};
	start.start_ns = now;
	start.pid = pid;
	struct thread_span *span = thread_span_of(tid);
	if (span) {
		start.span_id = span->span_id;
		start.span_start_ns = span->start_ns;
	}
	/* prev is still `current` here: the stacks are those of the blocking thread. */
	start.kernel_stack_id = bpf_get_stackid(ctx, &offcpu_stacks, 0);
	/* The registers the thread entered the kernel with (its syscall, or the
	 * interrupt that preempted it). */
	struct unwind_regs regs;
	bool have_regs = unwinder == UNWINDER_DWARF && unwind_regs_of_current_task(&regs);
	start.user_stack_id = unwind_user_stack_key(ctx, have_regs ? &regs : NULL, pid, UNWIND_SOURCE_OFFCPU,
						    &offcpu_user_stacks, &offcpu_stacks, &start.user_stack_hash);
	bpf_get_current_comm(&start.comm, sizeof(start.comm));
	if (start.kernel_stack_id < 0 && start.kernel_stack_id != -14)
		stat_inc(&offcpu_stats, PROFILE_STAT_KERNEL_STACK_LOST);
	/* -EFAULT means "no user stack": expected of kernel threads, a loss for anyone else. */
	if (start.user_stack_id < 0 && !start.user_stack_hash && (start.user_stack_id != -14 || !(flags & PF_KTHREAD)))
		stat_inc(&offcpu_stats, PROFILE_STAT_USER_STACK_LOST);
	if (bpf_map_update_elem(&offcpu_starts, &tid, &start, BPF_ANY) < 0)
		stat_inc(&offcpu_stats, PROFILE_STAT_MAP_FULL);
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	__u32 tid = BPF_CORE_READ(next, pid);
	struct offcpu_start *start = bpf_map_lookup_elem(&offcpu_starts, &tid);
	if (!start)
		return;
	__u64 blocked = now - start->start_ns;
	struct profile_key key = {};
	key.pid = start->pid;
	key.tid = tid;
	key.user_stack_id = start->user_stack_id;
	key.kernel_stack_id = start->kernel_stack_id;
	key.user_stack_hash = start->user_stack_hash;
	if (start->span_id && now - start->span_start_ns >= offcpu_span_min_ns && take_rate_budget(&offcpu_span_budget, span_rate_per_cpu, now))
		key.span_id = start->span_id;
	__builtin_memcpy(key.comm, start->comm, sizeof(key.comm));
	bpf_map_delete_elem(&offcpu_starts, &tid);
	if (blocked < min_block_ns)
		return;
	if (map_add_u64(&offcpu_counts, &key, blocked) < 0) {
		stat_inc(&offcpu_stats, PROFILE_STAT_MAP_FULL);
		return;
	}
	stat_inc(&offcpu_stats, PROFILE_STAT_SAMPLES);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	switch_out(ctx, prev, now);
	switch_in(next, now);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(offcpu_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	switch_out(ctx, prev, now);
	switch_in(next, now);
	return 0;
}

/* A thread that exits never switches in again: forget when it went off-CPU
 * (its last switch-outs, with PF_EXITING, are not recorded either). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(offcpu_task_exit_btf, struct task_struct *task)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&offcpu_starts, &tid);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(offcpu_task_exit_raw, struct task_struct *task)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&offcpu_starts, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
