/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Structs shared by profile.bpf.c and the agent (through Sources/CBPF). */
#ifndef PROFILE_H
#define PROFILE_H

#define PROFILE_COMM_LEN 16
/* Frames kept per stack; matches the kernel's default perf_event_max_stack. */
#define PROFILE_MAX_STACK_DEPTH 127

/* Aggregation key of one CPU sample. A negative stack id means "no stack"
 * (e.g. -EFAULT: no user stack for a kernel thread, no kernel stack when the
 * sample hit user mode). span_id is the thread's current traced event (0 = none),
 * which links latency exemplars to the profile taken during that event.
 * user_stack_hash (unwinder = dwarf only, else 0): key of the table-unwound
 * user stack in user_stacks / offcpu_user_stacks (struct unwind_stack); when
 * set, user_stack_id is -1. When 0, the user stack is user_stack_id's (the
 * kernel's frame-pointer walk: processes the tables do not describe). */
struct profile_key {
	__u32 pid;            /* thread group id, i.e. the process */
	__u32 tid;            /* thread id */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u64 span_id;
	char comm[PROFILE_COMM_LEN];
	__u64 user_stack_hash;
};

/* Indexes of the per-CPU `profile_stats` counters. */
enum profile_stat {
	PROFILE_STAT_SAMPLES = 0,       /* samples counted in `counts` */
	PROFILE_STAT_MAP_FULL,          /* samples dropped: `counts` full */
	PROFILE_STAT_USER_STACK_LOST,   /* user stack not recorded (collision / map full) */
	PROFILE_STAT_KERNEL_STACK_LOST, /* kernel stack not recorded (collision / map full) */
	PROFILE_STAT_FILTERED,          /* samples of processes outside the filter */
	PROFILE_STAT_COUNT,
};

#endif /* PROFILE_H */
