/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Small map helpers shared by the BPF programs. */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

#include <bpf/bpf_helpers.h>

/* *ptr += delta, atomically, without fetching the old value. clang ≥ 20 (default -mcpu=v3)
 * compiles __sync_fetch_and_add to atomic_fetch_add even when the result is unused, and
 * kernels before 5.12 refuse that ("BPF_STX uses reserved fields"): write the plain
 * atomic add (BPF_ATOMIC | BPF_ADD, imm 0, the old BPF_XADD) that every kernel loads. */
static __always_inline void atomic_add_u64(__u64 *ptr, __u64 delta)
{
	asm volatile("lock *(u64 *)(%0 + 0) += %1" : : "r"(ptr), "r"(delta) : "memory");
}

/* Adds `delta` to the u64 value at `key`, inserting it when absent.
 * Returns 0, or a negative errno when the map is full. */
static __always_inline long map_add_u64(void *map, const void *key, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(map, key);
	if (value) {
		atomic_add_u64(value, delta);
		return 0;
	}
	long err = bpf_map_update_elem(map, key, &delta, BPF_NOEXIST);
	if (err == -17 /* EEXIST: inserted by another CPU meanwhile */) {
		value = bpf_map_lookup_elem(map, key);
		if (value) {
			atomic_add_u64(value, delta);
			return 0;
		}
	}
	return err;
}

/* Increments counter `index` of a per-CPU u64 array. */
static __always_inline void stat_inc(void *map, __u32 index)
{
	__u64 *value = bpf_map_lookup_elem(map, &index);
	if (value)
		*value += 1;
}

/* A per-CPU allowance of `limit` events per second: the value type of a
 * one-entry BPF_MAP_TYPE_PERCPU_ARRAY. */
struct rate_budget {
	__u64 second;
	__u32 used;
};

/* Whether one more event fits this CPU's allowance for the current second. */
/* Takes one of `limit` per second from slot `slot` of a per-CPU budget map. */
static __always_inline bool take_rate_budget_slot(void *map, __u32 slot, __u32 limit, __u64 now)
{
	struct rate_budget *budget = bpf_map_lookup_elem(map, &slot);
	if (!budget)
		return false;
	__u64 second = now / 1000000000ULL;
	if (budget->second != second) {
		budget->second = second;
		budget->used = 0;
	}
	if (budget->used >= limit)
		return false;
	budget->used++;
	return true;
}

static __always_inline bool take_rate_budget(void *map, __u32 limit, __u64 now)
{
	return take_rate_budget_slot(map, 0, limit, now);
}

#endif /* MAPS_BPF_H */
