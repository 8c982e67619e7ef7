/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The stacks of traced events that become exemplars (event_stack.bpf.h): when
 * an event may become its histogram bucket's exemplar, the tracer takes the
 * thread's stacks and sends them with the span before it writes the exemplar,
 * so every exemplar's span has at least the stacks of its own event. */
#ifndef EVENT_STACK_H
#define EVENT_STACK_H

#include "unwind.h"

/* Kernel frames kept (the block I/O issue path is ~20 deep). */
#define EVENT_STACK_KERNEL_DEPTH 48
/* Default ring buffer size: 512 KiB holds ~380 records between two drains. */
#define EVENT_STACK_DEFAULT_RING (512u * 1024)

/* What the event was (struct event_stack_record.kind): enum span_kind, plus block I/O. */
#define EVENT_STACK_BLOCK_IO 4
/* Kinds with their own rate budget (slots of event_stack_budget, by kind). */
#define EVENT_STACK_KINDS 5

/* How the user frames were found. */
enum event_stack_user {
	EVENT_STACK_USER_NONE = 0,  /* a kernel thread, or no user stack */
	EVENT_STACK_USER_FP = 1,    /* the kernel's frame-pointer walk: user[0] exact, then return addresses */
	EVENT_STACK_USER_TABLE = 2, /* the table unwinder: UNWIND_FRAME_EXACT marks exact pcs */
};

/* One event's stacks (~1.5 KiB), sent through the shared event_stacks ring buffer. */
struct event_stack_record {
	__u64 span_id;
	__u64 start_ns;    /* bpf_ktime_get_ns() at the event's start */
	__u64 duration_ns; /* 0 when taken at the start (block I/O: at issue) */
	__u32 pid;
	__u32 tid;
	__u32 kind;        /* enum span_kind or EVENT_STACK_BLOCK_IO */
	__u32 detail;      /* syscall number; TLS op (enum tls_op); DNS result (enum dns_result); device (MKDEV) */
	__u32 detail2;     /* block I/O: REQ_OP_*; else 0 */
	__u32 user_kind;   /* enum event_stack_user */
	__u32 user_depth;
	__u32 user_flags;  /* UNWIND_STACK_* (table walks) */
	__u32 kernel_depth;
	__u32 leaf_is_return; /* user[0] is a return address (taken at a uretprobe) */
	char comm[16];
	__u64 kernel[EVENT_STACK_KERNEL_DEPTH];
	__u64 user[UNWIND_MAX_DEPTH];
};

/* Counters of the shared event_stack_stats (per CPU). */
enum event_stack_stat {
	EVENT_STACK_STAT_SENT = 0,   /* records sent */
	EVENT_STACK_STAT_RING_FULL,  /* not sent: ring buffer full (the bucket keeps its older exemplar) */
	EVENT_STACK_STAT_RATE,       /* not taken: over the per-CPU rate */
	EVENT_STACK_STAT_EMPTY,      /* not sent: neither a user nor a kernel stack */
	EVENT_STACK_STAT_COUNT,
};

#endif /* EVENT_STACK_H */
