// SPDX-License-Identifier: GPL-2.0
/* DNS lookups: uprobe/uretprobe on getaddrinfo (glibc, musl) in every libc the
 * agent finds. A lookup opens an event span that encloses its syscalls, counts
 * in the ok/error histogram, and is reported to the agent with its host name
 * (for /events?type=dns — never a metric label). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.bpf.h"

struct dns_name {
	char name[EVENT_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct dns_name);
} dns_names SEC(".maps");

/* int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) */
SEC("uprobe")
int BPF_KPROBE(dns_getaddrinfo_enter, const char *node)
{
	if (!begin_call(ctx, SPAN_DNS, 0, 0))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dns_name name = {};
	if (node)
		bpf_probe_read_user_str(name.name, sizeof(name.name), node);
	bpf_map_update_elem(&dns_names, &tid, &name, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(dns_getaddrinfo_exit, int ret)
{
	struct pending_call call;
	if (!end_call(&call))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	record_call(ctx, ret == 0 ? DNS_OK : DNS_ERROR, &call, 0, now);

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct dns_record *record = bpf_ringbuf_reserve(&event_records, sizeof(*record), 0);
	if (!record) {
		stat_inc(&event_stats, EVENT_STAT_RECORDS_LOST);
		bpf_map_delete_elem(&dns_names, &tid);
		return 0;
	}
	record->type = EVENT_DNS_DONE;
	record->ret = ret;
	record->span_id = call.span.span_id;
	record->pid = pid_tgid >> 32;
	record->tid = tid;
	record->duration_ns = now - call.span.start_ns;
	record->end_ns = now;
	bpf_get_current_comm(&record->comm, sizeof(record->comm));
	struct dns_name *name = bpf_map_lookup_elem(&dns_names, &tid);
	if (name)
		__builtin_memcpy(record->name, name->name, sizeof(record->name));
	else
		record->name[0] = 0;
	bpf_map_delete_elem(&dns_names, &tid);
	bpf_ringbuf_submit(record, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
