// SPDX-License-Identifier: GPL-2.0
/* CPU sampling: runs on a CPU-clock perf event on every online CPU and counts
 * (process, thread, user stack, kernel stack, span) in `counts`. Stacks are
 * walked by the kernel with frame pointers (bpf_get_stackid), user stacks by
 * the table unwinder instead when unwinder = dwarf (unwind.bpf.h) and the
 * agent described the process. This object creates the unwinder's shared maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#include "span.bpf.h"
#include "maps.bpf.h"
#include "unwind.bpf.h"

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* Set by the agent before load. */
const volatile bool filter_by_pid = false;
const volatile bool include_idle = false;
const volatile bool exclude_kernel_threads = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the agent before load */
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384); /* resized by the agent before load */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* Table-unwound user stacks (unwinder = dwarf), cleared by the agent like `stacks`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_USER_STACKS when unwinder = dwarf */
	__type(key, __u64);
	__type(value, struct unwind_stack);
} user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} profile_stats SEC(".maps");

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	__u32 tid = (__u32)id;

	if (tid == 0 && !include_idle)
		return 0;
	if (filter_by_pid && !bpf_map_lookup_elem(&target_pids, &pid)) {
		stat_inc(&profile_stats, PROFILE_STAT_FILTERED);
		return 0;
	}
	if (exclude_kernel_threads) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		if (BPF_CORE_READ(task, flags) & PF_KTHREAD) {
			stat_inc(&profile_stats, PROFILE_STAT_FILTERED);
			return 0;
		}
	}

	struct profile_key key = {};
	key.pid = pid;
	key.tid = tid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	struct unwind_regs regs;
	bool have_regs = unwinder == UNWINDER_DWARF && unwind_regs_of_perf_sample(ctx, &regs);
	key.user_stack_id = unwind_user_stack_key(ctx, have_regs ? &regs : NULL, pid, UNWIND_SOURCE_CPU, &user_stacks, &stacks,
						  &key.user_stack_hash);
	/* -EFAULT means "no such stack here" (user mode / kernel thread); any
	 * other error means the stack was lost (bucket collision, map full). */
	if (key.kernel_stack_id < 0 && key.kernel_stack_id != -14)
		stat_inc(&profile_stats, PROFILE_STAT_KERNEL_STACK_LOST);
	if (key.user_stack_id < 0 && key.user_stack_id != -14 && !key.user_stack_hash)
		stat_inc(&profile_stats, PROFILE_STAT_USER_STACK_LOST);

	key.span_id = current_span(tid, bpf_ktime_get_ns());

	if (map_add_u64(&counts, &key, 1) < 0) {
		stat_inc(&profile_stats, PROFILE_STAT_MAP_FULL);
		return 0;
	}
	stat_inc(&profile_stats, PROFILE_STAT_SAMPLES);
	return 0;
}

/* A process replaced its image (unwinder = dwarf): its described mappings are
 * gone, so its entry goes now (its stacks fall back to the kernel's frame-pointer
 * walk) and the agent is asked to describe it again. raw_tp: no argument is
 * read, so it needs no BTF. */
SEC("raw_tp/sched_process_exec")
int profile_exec(void *ctx)
{
	if (unwinder != UNWINDER_DWARF)
		return 0;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (filter_by_pid && !bpf_map_lookup_elem(&target_pids, &pid))
		return 0;
	bpf_map_delete_elem(&unwind_processes, &pid);
	unwind_request(pid, UNWIND_REQUEST_EXEC, UNWIND_SOURCE_CPU, true);
	/* ld.so maps the libraries next: the first sample in one asks at once rather than
	 * UNWIND_REQUEST_INTERVAL_NS later, when a short-lived process may be gone. */
	bpf_map_delete_elem(&unwind_requested, &pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
