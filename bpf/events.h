/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Library-call events traced with uprobes (dns.bpf.c, tls.bpf.c): the records
 * they send to the agent and the layout of their histograms. */
#ifndef EVENTS_H
#define EVENTS_H

/* Bytes of a queried host name kept (longer names are cut). */
#define EVENT_NAME_LEN 128
/* Frames of the caller's stack sent with a call-site record. */
#define EVENT_STACK_DEPTH 64

enum event_record_type {
	EVENT_CALL_SITE = 1, /* struct call_site_record */
	EVENT_DNS_DONE = 2,  /* struct dns_record */
};

/* Histogram rows (`event_hist` index) of each tracer. */
enum dns_result { DNS_OK = 0, DNS_ERROR = 1, DNS_ROWS };
enum tls_op { TLS_READ = 0, TLS_WRITE = 1, TLS_HANDSHAKE = 2, TLS_ROWS };
/* A TLS probe's BPF cookie: its enum tls_op, plus this flag for the _ex forms
 * (the byte count comes through their 4th argument). */
#define TLS_COOKIE_EX 0x100
#define EVENT_ROWS 3

enum event_stat {
	EVENT_STAT_EVENTS = 0,      /* events measured */
	EVENT_STAT_RECORDS_LOST,    /* records not sent: ring buffer full */
	EVENT_STAT_CALL_SITES_SKIPPED, /* call sites not sent: over the per-CPU rate */
	EVENT_STAT_COUNT,
};

/* Where an event was called from, sent when it starts (so the agent knows it
 * before any sample labelled with the span is read). The stack is taken at the
 * probed function's entry: stack[first] is that function, then the return
 * address into its caller, then the caller's frame chain. A frame-pointer walk
 * at function entry skips the caller (its return address is at the stack
 * pointer, not in a frame): kernels since 6.11 add it themselves, older ones
 * get it from the BPF side, which then starts at first = 0. */
struct call_site_record {
	__u32 type; /* EVENT_CALL_SITE */
	__u32 kind; /* enum span_kind */
	__u64 span_id;
	__u32 pid;
	__u32 tid;
	__u32 first; /* index of the first valid entry of stack */
	__u32 depth; /* valid entries from `first` on */
	__u64 stack[EVENT_STACK_DEPTH];
};

/* A finished getaddrinfo call. */
struct dns_record {
	__u32 type; /* EVENT_DNS_DONE */
	__s32 ret;  /* getaddrinfo's return value: 0 ok, EAI_* otherwise */
	__u64 span_id;
	__u32 pid;
	__u32 tid;
	__u64 duration_ns;
	__u64 end_ns;
	char comm[16];
	char name[EVENT_NAME_LEN];
};

#endif /* EVENTS_H */
