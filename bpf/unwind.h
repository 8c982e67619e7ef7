/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The table-driven (".eh_frame") user-stack unwinder: the layout of its maps,
 * shared by the BPF side (unwind.bpf.h) and the agent (through Sources/CBPF).
 * Plain fixed-width types only, no bitfields, explicit padding.
 *
 * How the agent fills the maps (all arrays are indexed from 0):
 *
 *  unwind_rules   ARRAY  u32 rule index -> struct unwind_rule (16 B).
 *                 De-duplicated rules of every loaded file (a desktop's /usr
 *                 has ~10k distinct ones). Index 0 is reserved: the agent
 *                 writes UNWIND_CFA_INVALID there (an all-zero rule is INVALID
 *                 anyway, so unwritten slots fall back to frame pointers).
 *  unwind_rows    ARRAY  u32 row index -> struct unwind_row (8 B).
 *                 Each file owns one contiguous range [first_row, first_row +
 *                 row_count), sorted by pc_low ascending (strictly: one row per
 *                 address). A row covers [pc_low, next row's pc_low); the last
 *                 row of a file covers up to the end of its mapping, so a file's
 *                 table must end with an UNWIND_CFA_INVALID row at the end of its
 *                 last FDE (and the parser puts INVALID rows in the gaps between
 *                 FDEs). The agent allocates the ranges (e.g. a first-fit free
 *                 list; compaction by moving a range and rewriting its file entry).
 *  unwind_files   ARRAY  u32 file_id -> struct unwind_file (24 B).
 *                 file_id is allocated by the agent, one per distinct file
 *                 (build-id, else dev:inode), shared by every process mapping it.
 *                 file_id 0 is reserved for "none" (row_count 0).
 *                 To replace a file's table: write the rows (and pages) to new
 *                 ranges, then the file entry (a torn entry can only mis-unwind
 *                 one sample: every index is bounds-checked).
 *  unwind_pages   ARRAY  u32 -> u32: each file's page index, optional (page_count 0:
 *                 the whole range is searched). For the file's pages
 *                 i = 0 .. page_count - 1 (page_count = (last row's pc_low >>
 *                 UNWIND_PAGE_SHIFT) + 1), unwind_pages[first_page + i] = the
 *                 index, relative to first_row, of the last row with pc_low <=
 *                 i << UNWIND_PAGE_SHIFT (0 when none). A lookup then searches
 *                 only the rows of one 4 KiB page (~100 for CPython, ~7 steps)
 *                 instead of the whole file (~17 steps): the rows are cold in
 *                 the cache at every sample and each step is a miss (measured
 *                 here: a python3.11 walk of 11 frames took 9.9 us cold, 2.6 us
 *                 warm, searching whole files; with pages the difference was
 *                 within this machine's noise: 1 KiB or 256 B granules did not
 *                 help measurably either). Cost: 8 B (a u32 in an array
 *                 slot) per 4 KiB of text.
 *                 Choose vaddr_base = the first row's address rounded down to
 *                 4 KiB so that pages start at the text.
 *  unwind_processes HASH (no prealloc) u32 pid (tgid) -> struct unwind_process.
 *                 The executable mappings of a process, sorted by start, not
 *                 overlapping. Mappings may be left out: a pc in no mapping is
 *                 unwound with frame pointers (counted UNWIND_STAT_NO_MAPPING), so
 *                 a process with more than UNWIND_MAX_MAPPINGS executable mappings
 *                 keeps the ones with tables (merge adjacent frame-pointer ones).
 *                 A pid absent from the map is not unwound by the table unwinder
 *                 at all: its stack comes from the kernel's frame-pointer walk
 *                 (bpf_get_stackid, as with unwinder = fp), counted
 *                 UNWIND_STAT_NO_PROCESS.
 *  user_stacks    HASH u64 stack hash -> struct unwind_stack, written by BPF,
 *                 read (and cleared) by the agent like the `stacks` map.
 *  unwind_requests RINGBUF of struct unwind_request, written by BPF: the agent
 *                 describes the process within milliseconds (exec, new pid, dlopen).
 *  unwind_requested LRU_HASH u32 pid -> u64 time of its last request (rate limit).
 *  unwind_stats   PERCPU_ARRAY (UNWIND_SOURCE_COUNT * UNWIND_STAT_COUNT) u64:
 *                 counter `reason` of source `src` at src * UNWIND_STAT_COUNT + reason.
 *
 * Bias convention: for an address `pc` inside mapping m of file f,
 *     ELF vaddr = pc - m.bias
 *     row key   = ELF vaddr - f.vaddr_base    (unwind_row.pc_low)
 * For a /proc/PID/maps line "start-end perms offset ... path", with the
 * PT_LOAD segment whose file range holds `offset`:
 *     bias = start - (p_vaddr + (offset - p_offset))    (0 for non-PIE executables)
 * f.vaddr_base: any base with every row address of the file in [base, base + 4 GiB);
 * 0 when the file's vaddrs are below 4 GiB (every shared library and
 * executable in practice). The frames stored are pcs (not vaddrs).
 */
#ifndef UNWIND_H
#define UNWIND_H

/* Load-time choice of the user-stack walker (rodata `unwinder` of profile,
 * offcpu, dns and tls objects). */
enum unwinder_kind {
	UNWINDER_FP = 0,    /* kernel frame-pointer walk (bpf_get_stackid / bpf_get_stack): the default */
	UNWINDER_DWARF = 1, /* tables where the process is known, kernel frame pointers otherwise */
};

/* What the running kernel offers the table unwinder (rodata `unwind_features`
 * of the same objects, probed by the agent). Without it (5.8-5.14) the
 * unwinder takes another way to the same registers: unwind.bpf.h. */
enum unwind_kernel_feature {
	UNWIND_KERNEL_TASK_REGS = 0x1, /* bpf_task_pt_regs (5.15+) and bpf_get_current_task_btf (5.11+) */
};

/* Frames of a table-unwound stack (the kernel's default perf_event_max_stack). */
#define UNWIND_MAX_DEPTH 127
/* Executable mappings per process (struct unwind_process: 8 + 256 * 32 B = 8 KiB). */
#define UNWIND_MAX_MAPPINGS 256
#define UNWIND_MAPPING_SEARCH_STEPS 9 /* ceil(log2(UNWIND_MAX_MAPPINGS)) + 1 */
/* Rows per file: a binary search of UNWIND_ROW_SEARCH_STEPS steps finds one in
 * up to 2^22 - 1 (4 M) rows (ClickHouse, the largest reported, has 2.8 M). */
#define UNWIND_ROW_SEARCH_STEPS 22
#define UNWIND_MAX_FILE_ROWS ((1u << UNWIND_ROW_SEARCH_STEPS) - 1)
/* Granule of the page index (unwind_pages). */
#define UNWIND_PAGE_SHIFT 12

/* Default sizes the agent gives the maps when unwinder = dwarf (the BPF
 * objects declare them with 1 entry so that unwinder = fp costs nothing).
 * Memory (bytes_memlock measured on 6.18 with these sizes):
 *   unwind_rows     2^20 * 8 B                        8.00 MiB  array
 *   unwind_rules    65536 * 16 B                      1.00 MiB  array
 *   unwind_files    8192 * 24 B                       0.19 MiB  array
 *   unwind_pages    2^17 * 8 B (u32 rounded up to 8)  1.00 MiB  array
 *   user_stacks     8192 * (1024 B + element)         8.57 MiB  hash, preallocated (written in perf context)
 *   offcpu_user_stacks 4096 * ...                     4.3 MiB   hash, preallocated
 *   unwind_processes 8 KiB per described process, no prealloc (1024 = 8 MiB at most;
 *                    preallocated before 6.1, where perf_event programs need that)
 *   unwind_stats, unwind_scratch (per object)         < 0.1 MiB
 * Total 23 MiB + 8 KiB per described process, on top of today's maps; the
 * kernel stack maps (stacks, offcpu_stacks: 16.25 MiB each at 16384) then
 * hold kernel stacks and the user stacks of undescribed processes only, so
 * the agent may halve them in dwarf mode to stay within 64 MiB. */
#define UNWIND_DEFAULT_ROWS (1u << 20)
#define UNWIND_DEFAULT_RULES 65536
#define UNWIND_DEFAULT_FILES 8192
#define UNWIND_DEFAULT_PAGES (1u << 17) /* 512 MiB of text */
#define UNWIND_DEFAULT_PROCESSES 1024
#define UNWIND_DEFAULT_USER_STACKS 8192
#define UNWIND_DEFAULT_OFFCPU_USER_STACKS 4096

/* How the canonical frame address (the caller's rsp) is computed. */
enum unwind_cfa_kind {
	UNWIND_CFA_INVALID = 0,      /* no usable rule (gap, unsupported): frame pointers */
	UNWIND_CFA_RSP = 1,          /* CFA = rsp + cfa_offset */
	UNWIND_CFA_RBP = 2,          /* CFA = rbp + cfa_offset */
	UNWIND_CFA_DEREF_RSP = 3,    /* CFA = *(u64 *)(rsp + cfa_offset) + cfa_aux (gcc stack realignment) */
	UNWIND_CFA_DEREF_RBP = 4,    /* CFA = *(u64 *)(rbp + cfa_offset) + cfa_aux */
	UNWIND_CFA_PLT = 5,          /* CFA = rsp + 8 + ((rip & 15) >= cfa_aux ? 8 : 0); cfa_aux = 10 or 11 */
	UNWIND_CFA_SIGNAL = 6,       /* glibc __restore_rt: rip/rsp/rbp restored from the ucontext at rsp */
	UNWIND_CFA_STOP = 7,         /* return address undefined (_start, clone3): the outermost frame */
	UNWIND_CFA_KIND_COUNT,
};
/* For every kind but SIGNAL/STOP/INVALID: return address = *(u64 *)(CFA - 8), caller's rsp = CFA. */

/* Where the caller's rbp is. */
enum unwind_fp_kind {
	UNWIND_FP_UNCHANGED = 0, /* rbp is the caller's (not saved yet / not used) */
	UNWIND_FP_SAVED = 1,     /* caller's rbp = *(u64 *)(CFA + fp_offset) */
	UNWIND_FP_KIND_COUNT,
};

/* One de-duplicated rule (16 B). */
struct unwind_rule {
	__u8 cfa_kind;  /* enum unwind_cfa_kind */
	__u8 fp_kind;   /* enum unwind_fp_kind */
	__u16 reserved; /* 0 */
	__s32 cfa_offset;
	__s32 cfa_aux;  /* DEREF_*: added after the load; PLT: the threshold (10 or 11); else 0 */
	__s32 fp_offset;
};

/* One row of a file's table (8 B): from pc_low on (until the next row), `rule` applies. */
struct unwind_row {
	__u32 pc_low; /* ELF vaddr - unwind_file.vaddr_base */
	__u32 rule;   /* index into unwind_rules */
};

/* A file's table: rows [first_row, first_row + row_count) of unwind_rows,
 * page index [first_page, first_page + page_count) of unwind_pages. */
struct unwind_file {
	__u32 first_row;
	__u32 row_count;  /* 0: no table (frame pointers); at most UNWIND_MAX_FILE_ROWS */
	__u64 vaddr_base; /* subtracted from ELF vaddrs to get unwind_row.pc_low */
	__u32 first_page;
	__u32 page_count; /* 0: no page index */
};

/* How the code of a mapping is unwound. */
enum unwind_mapping_kind {
	UNWIND_MAPPING_TABLE = 0,        /* rows of file_id */
	UNWIND_MAPPING_FRAME_POINTER = 1, /* JIT, anonymous executable memory, Go, [vdso], no table */
};

/* One executable mapping of a process (32 B): [start, end). */
struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;    /* pc - bias = ELF vaddr */
	__u32 file_id; /* index into unwind_files (TABLE mappings) */
	__u32 kind;    /* enum unwind_mapping_kind */
};

/* The executable mappings of one process, mappings[0, count) sorted by start. */
struct unwind_process {
	__u32 count;
	__u32 generation; /* new at every write of the entry: keys the BPF rule cache (unwind.bpf.h) */
	struct unwind_mapping mappings[UNWIND_MAX_MAPPINGS];
};

/* A frame of struct unwind_stack / call_site_record (unwinder = dwarf) with
 * this bit set is an exact pc (the leaf, or a pc restored from a signal
 * frame): symbolise it as is. Without it, a frame is a return address:
 * symbolise ra - 1. User addresses never have bit 63 set. */
#define UNWIND_FRAME_EXACT (1ULL << 63)

/* struct unwind_stack.flags */
#define UNWIND_STACK_COMPLETE 0x1  /* reached an undefined return address (_start, clone3) */
#define UNWIND_STACK_TRUNCATED 0x2 /* UNWIND_MAX_DEPTH frames and more to go */
#define UNWIND_STACK_FP_USED 0x4   /* at least one frame came from a frame-pointer step */
#define UNWIND_STACK_ERROR 0x8     /* ended on a failure (read fault, bad rule, no progress) */

/* A table-unwound user stack (1024 B), value of user_stacks, keyed by a 64-bit
 * hash of (depth, flags, frames[0, depth)). frames[0] is the leaf. */
struct unwind_stack {
	__u32 depth;
	__u32 flags; /* UNWIND_STACK_* */
	__u64 frames[UNWIND_MAX_DEPTH];
};

/* Who asked for the stack: one block of counters each in unwind_stats. */
enum unwind_source {
	UNWIND_SOURCE_CPU = 0,      /* profile.bpf.c perf_event sample */
	UNWIND_SOURCE_OFFCPU = 1,   /* offcpu.bpf.c sched_switch (switch-out) */
	UNWIND_SOURCE_CALL_SITE = 2, /* dns/tls uprobe call site */
	UNWIND_SOURCE_EVENT = 3,    /* the stack of an event that becomes an exemplar (event_stack.bpf.h) */
	UNWIND_SOURCE_COUNT,
};

/* Counters of unwind_stats (per source). Per stack: exactly one of the
 * STACK_* outcomes (or NO_PROCESS / NO_USER_REGS); per frame: the rest. */
enum unwind_stat {
	UNWIND_STAT_STACKS = 0,        /* stacks walked by the table unwinder */
	UNWIND_STAT_NO_PROCESS,        /* pid not in unwind_processes: kernel frame-pointer walk instead */
	UNWIND_STAT_NO_USER_REGS,      /* kernel thread, 32-bit task, or no user registers */
	UNWIND_STAT_REACHED_STOP,      /* stack ended at an undefined return address (complete) */
	UNWIND_STAT_NULL_END,          /* stack ended on rbp 0 in a frame-pointer step, or a return address 0 */
	UNWIND_STAT_DEPTH_LIMIT,       /* stack cut at UNWIND_MAX_DEPTH (or the caller's smaller limit) */
	UNWIND_STAT_READ_FAULT,        /* stack ended: a user-memory read failed (page absent, bad pointer) */
	UNWIND_STAT_BAD_RULE,          /* stack ended: unknown kind, index out of range, no progress (CFA <= rsp), bad rbp */
	UNWIND_STAT_FRAMES_TABLE,      /* frames unwound with a table row */
	UNWIND_STAT_FRAMES_FP,         /* frames unwound with frame pointers (any reason below) */
	UNWIND_STAT_FP_NO_MAPPING,     /* ... because the pc is in no listed mapping */
	UNWIND_STAT_FP_MAPPING,        /* ... because the mapping is a frame-pointer one (JIT, Go, vdso) */
	UNWIND_STAT_FP_NO_ROW,         /* ... because the file has no row at or before the pc (or no table) */
	UNWIND_STAT_FP_INVALID_ROW,    /* ... because the row is UNWIND_CFA_INVALID (gap, unsupported) */
	UNWIND_STAT_SIGNAL_FRAMES,     /* signal frames crossed */
	UNWIND_STAT_STORE_FAILED,      /* unwound but not stored: user_stacks full (or ring buffer) */
	UNWIND_STAT_REQUESTS,          /* describe requests sent to the agent (unwind_requests) */
	UNWIND_STAT_REQUESTS_LOST,     /* ... not sent: the ring buffer was full */
	UNWIND_STAT_RULE_CACHE_HITS,   /* table frames whose rule came from the per-CPU rule cache */
	UNWIND_STAT_WALK_NS,           /* nanoseconds spent in table walks (bpf_ktime_get_ns around the frame loop) */
	UNWIND_STAT_FRAMES_TRAMPOLINE, /* frames of CPython's -X perf trampolines, stepped by their known shape */
	UNWIND_STAT_COUNT,
};

/* Why the BPF side asks the agent to describe a process (again). */
enum unwind_request_reason {
	UNWIND_REQUEST_EXEC = 0,            /* sched_process_exec: new mappings (its old entry is deleted in BPF) */
	UNWIND_REQUEST_UNKNOWN_PROCESS = 1, /* a stack of a pid not in unwind_processes (started or forked since) */
	UNWIND_REQUEST_NO_MAPPING = 2,      /* a trusted pc (the leaf, or found by a table row) in no listed mapping: dlopen, JIT */
	UNWIND_REQUEST_REASON_COUNT,
};

/* One record of the unwind_requests ring buffer (16 B). */
struct unwind_request {
	__u32 pid;
	__u32 reason;  /* enum unwind_request_reason */
	__u64 time_ns; /* bpf_ktime_get_ns() when sent (CLOCK_MONOTONIC) */
};

/* At most one request per process per interval (unwind_requested, LRU by pid);
 * an exec always sends one. */
#define UNWIND_REQUEST_INTERVAL_NS (50ULL * 1000 * 1000)
#define UNWIND_DEFAULT_REQUEST_RING (64u * 1024)
#define UNWIND_DEFAULT_REQUESTED 8192

#endif /* UNWIND_H */
