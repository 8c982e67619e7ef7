// SPDX-License-Identifier: GPL-2.0
/* A program the verifier must reject (a map value used without a NULL check).
 * Embedded only so the tests can drive the agent's load-failure path for real
 * and check that the verifier's own words reach the user. Never attached. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} reject_values SEC(".maps");

SEC("perf_event")
int verifier_reject(void *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&reject_values, &key);
	return (int)*value; /* R0 may be NULL: the verifier says no */
}

char LICENSE[] SEC("license") = "GPL";
