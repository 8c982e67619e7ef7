/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Latency histogram layout shared by the tracers and the agent. */
#ifndef LATENCY_H
#define LATENCY_H

/* Buckets: le = 2^i microseconds for i in [0, LATENCY_BUCKETS-2] (1 us .. ~2.1 s), then +Inf. */
#define LATENCY_BUCKETS 23
/* Syscall numbers counted individually; larger ones share the last row. */
#define SYSCALL_SLOTS 512

/* The most recent event seen in one histogram bucket. */
struct latency_exemplar {
	__u64 span_id;
	__u64 duration_ns;
	__u64 end_ns; /* bpf_ktime_get_ns() */
};

/* Block I/O histogram key: device (MKDEV) and operation. */
struct io_key {
	__u32 dev;
	__u32 op; /* REQ_OP_*: 0 read, 1 write, 2 flush, 3 discard, ... */
};

/* One device/operation's histogram, with an exemplar per bucket. */
struct latency_histogram {
	__u64 buckets[LATENCY_BUCKETS];
	__u64 sum_ns;
	__u64 bytes;
	struct latency_exemplar exemplars[LATENCY_BUCKETS];
};

/* Per-process syscall histogram key (opt-in: the agent turns it into
 * per-container series and deletes what it read). */
struct process_syscall_key {
	__u32 pid;
	__u16 nr;     /* syscall number, SYSCALL_SLOTS - 1 for larger ones */
	__u16 bucket; /* latency bucket */
};

struct process_syscall_value {
	__u64 count;
	__u64 sum_ns;
	__u64 cgroup_id; /* of the last event: names the container once the process is gone */
	struct latency_exemplar exemplar;
};

enum syscall_stat {
	SYSCALL_STAT_EVENTS = 0,  /* syscalls measured */
	SYSCALL_STAT_SPANS_FULL,  /* syscall_spans full: not measured */
	SYSCALL_STAT_PROCESS_MAP_FULL, /* per-process histogram full: event only in the node-wide one */
	SYSCALL_STAT_COUNT,
};

#endif /* LATENCY_H */
