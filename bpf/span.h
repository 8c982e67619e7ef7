/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The per-thread "current traced event" record. A tracer writes it when an
 * event (a syscall, a DNS lookup, ...) starts on a thread and deletes it when the
 * event ends; samplers (profile.bpf.c, offcpu.bpf.c) read it and put span_id
 * into their aggregation keys, so a latency exemplar leads to the stacks of that
 * event. Library-call events (DNS, TLS) nest around syscalls: they live in their
 * own map and win over the syscall span while they last. */
#ifndef SPAN_H
#define SPAN_H

enum span_kind {
	SPAN_SYSCALL = 1,
	SPAN_DNS = 2,  /* getaddrinfo */
	SPAN_TLS = 3,  /* SSL_read / SSL_write / SSL_do_handshake */
};

struct thread_span {
	__u64 span_id;   /* 64-bit id, printed as 16 hex chars; never 0 */
	__u64 start_ns;  /* bpf_ktime_get_ns() at the event's start */
	__u32 kind;      /* enum span_kind */
	__u32 detail;    /* kind-specific: the syscall number, the TLS operation */
};

#endif /* SPAN_H */
