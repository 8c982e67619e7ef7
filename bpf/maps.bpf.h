/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Small map helpers shared by the BPF programs. */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

#include <bpf/bpf_helpers.h>

/* Adds `delta` to the u64 value at `key`, inserting it when absent.
 * Returns 0, or a negative errno when the map is full. */
static __always_inline long map_add_u64(void *map, const void *key, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(map, key);
	if (value) {
		__sync_fetch_and_add(value, delta);
		return 0;
	}
	long err = bpf_map_update_elem(map, key, &delta, BPF_NOEXIST);
	if (err == -17 /* EEXIST: inserted by another CPU meanwhile */) {
		value = bpf_map_lookup_elem(map, key);
		if (value) {
			__sync_fetch_and_add(value, delta);
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

#endif /* MAPS_BPF_H */
