/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The per-thread "current traced event" record. Event tracers write it when an
 * event (a syscall, a DNS lookup, ...) starts on a thread and delete it when the
 * event ends; samplers read it and put span_id into their aggregation keys. */
#ifndef SPAN_H
#define SPAN_H

struct thread_span {
	__u64 span_id;   /* 64-bit id, printed as 16 hex chars; never 0 */
	__u64 start_ns;  /* bpf_ktime_get_ns() at the event's start */
	__u32 kind;      /* which tracer opened it */
	__u32 _pad;
};

#endif /* SPAN_H */
