/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The maps of the CPython frame walk (python.bpf.h), apart so that the native
 * walk (unwind.bpf.h) can ask whether a process is a listed Python one before
 * python.bpf.h, which builds on it, is included. */
#ifndef PYTHON_MAPS_BPF_H
#define PYTHON_MAPS_BPF_H

#include "python.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* PYTHON_DEFAULT_PROCESSES when unwinder = dwarf */
	__type(key, __u32);
	__type(value, struct python_process);
} python_processes SEC(".maps");

/* Host thread id -> its PyThreadState, re-checked at every use. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* PYTHON_DEFAULT_THREADS */
	__type(key, __u32);
	__type(value, __u64);
} python_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYTHON_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} python_stats SEC(".maps");

#endif /* PYTHON_MAPS_BPF_H */
