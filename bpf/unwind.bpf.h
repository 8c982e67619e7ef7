/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The table-driven user-stack unwinder (unwinder = dwarf), shared by the CPU
 * sampler (profile.bpf.c), the off-CPU switch-out (offcpu.bpf.c) and the
 * DNS/TLS call-site uprobes (events.bpf.h). Layout and filling rules of the
 * maps: unwind.h.
 *
 * Design:
 * - The table maps (unwind_rows, unwind_rules, unwind_files, unwind_processes)
 *   and unwind_stats are declared identically in every object that includes
 *   this header: the agent creates them once (with the profile object) and
 *   hands the same fds to the others (bpf_map__reuse_fd), like span.bpf.h.
 *   They are declared with 1 entry; the agent sizes them (unwind.h
 *   UNWIND_DEFAULT_*) only when it selects unwinder = dwarf, so that the
 *   default (fp) allocates nothing for them.
 * - The stacks produced go to a map of the caller's object (user_stacks,
 *   offcpu_user_stacks) or straight into a call-site record, because the CPU
 *   and off-CPU stack maps are cleared on different schedules.
 * - Rows are found through the file's page index (unwind.h, unwind_pages):
 *   every step of a search is a cache miss at 100-500 Hz sampling, so the
 *   search is kept to the rows of one 4 KiB page.
 * - Frames: one call of a global function per frame, in a bounded loop. A
 *   global function is verified once, on its own, whatever the depth (a static
 *   one would be verified again in every iteration, and unrolled loops or tail
 *   calls multiply instruction counts with the inner binary searches; pitfall 1
 *   of NATIVE_UNWINDING.md). Its arguments can only be scalars before 5.12, so
 *   it finds the walk's state again by a per-CPU array lookup. This runs on
 *   every kernel from 5.8 on; bpf_loop (5.17+) would do the same, but its
 *   callback's address (ld_imm64 of a function, 5.13+) makes older kernels
 *   reject the whole program even in dead code, and it measured no faster.
 * - Rule cache: a sample costs mostly cache and TLB misses (measured: a
 *   second walk of the same stack right after the first takes a quarter of
 *   its time), and a steady workload hits the same few pcs sample after
 *   sample. So each CPU and source keeps the last rules it found, by (pid,
 *   the process's description generation, pc): a hit skips the mapping
 *   search, the file, the page index, the rows and the rules, touching only
 *   the scratch slot already in use. A rule copied there stays right for as
 *   long as the process keeps that description (the code at a pc of a
 *   described mapping does not change); a new description (exec, dlopen,
 *   eviction) has a new generation. Per frame on a miss:
 *   mapping (binary search, <= 9 steps over the process's sorted mappings),
 *   then row (binary search, <= 22 steps over the file's rows; the row index
 *   goes through a map key, so the verifier does not track it precisely and
 *   prunes the search's branches), then the rule (one array lookup).
 * - State lives in a per-CPU scratch slot per source: a perf-event program
 *   (hrtimer interrupt or NMI) can interrupt a tracepoint or uprobe program on
 *   the same CPU, and each must keep its own frames. (A uprobe program runs
 *   with migration, not preemption, disabled: a uprobe on another task of the
 *   same CPU could in principle reuse the slot meanwhile; that costs at most
 *   one wrong call-site stack.)
 * - A process the agent has not described (not in unwind_processes) is not
 *   walked here: the caller falls back to the kernel's frame-pointer walk, as
 *   with unwinder = fp, and UNWIND_STAT_NO_PROCESS counts it. Such a process,
 *   an exec (profile.bpf.c) and a trusted pc in no listed mapping (a dlopen)
 *   send the agent a request (unwind_requests, rate-limited per process), so
 *   that it describes the process within milliseconds rather than at its next
 *   scan of /proc.
 */
#ifndef UNWIND_BPF_H
#define UNWIND_BPF_H

#include <bpf/bpf_core_read.h>
#include "unwind.h"
#include "python.h"
#include "python_maps.bpf.h"

/* Set by the agent before load: enum unwinder_kind, and the kernel's enum
 * unwind_kernel_feature bits (the branches for the others are dead code the
 * verifier never checks, so the helpers a kernel lacks are never seen). */
const volatile __u32 unwinder = UNWINDER_FP;
const volatile __u32 unwind_features = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_ROWS when unwinder = dwarf */
	__type(key, __u32);
	__type(value, struct unwind_row);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_RULES */
	__type(key, __u32);
	__type(value, struct unwind_rule);
} unwind_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_FILES */
	__type(key, __u32);
	__type(value, struct unwind_file);
} unwind_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_PAGES */
	__type(key, __u32);
	__type(value, __u32);
} unwind_pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_PROCESSES */
	__uint(map_flags, BPF_F_NO_PREALLOC); /* 8 KiB values: pay only for live processes */
	__type(key, __u32);
	__type(value, struct unwind_process);
} unwind_processes SEC(".maps");

/* Requests to the agent (unwind.h, struct unwind_request). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* UNWIND_DEFAULT_REQUEST_RING when unwinder = dwarf */
} unwind_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* UNWIND_DEFAULT_REQUESTED */
	__type(key, __u32);
	__type(value, __u64);
} unwind_requested SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_SOURCE_COUNT * UNWIND_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} unwind_stats SEC(".maps");

/* A rule the walk found before: for `pc` (the lookup address, ra - 1 or an
 * exact pc) of process `pid` while described as `generation`. */
struct unwind_cached_rule {
	__u64 pc;
	__u32 pid;
	__u32 generation;
	struct unwind_rule rule;
};
#define UNWIND_RULE_CACHE_SLOTS 64 /* 2 KiB per CPU and source, direct-mapped */

static __always_inline __u32 unwind_cache_slot(__u64 pc)
{
	return (__u32)((pc * 0x9e3779b97f4a7c15ULL) >> 58) & (UNWIND_RULE_CACHE_SLOTS - 1);
}

/* The walk in progress (one per CPU and source). */
struct unwind_walk {
	__u64 pc;       /* the current frame's pc */
	__u64 sp;       /* its rsp */
	__u64 bp;       /* its rbp */
	__u64 hash;     /* of the frames recorded so far */
	__u32 exact;    /* pc is exact (leaf, restored from a signal frame): look it up as is, not pc - 1 */
	__u32 src;      /* enum unwind_source */
	__u32 pid;
	__u32 entry;    /* the leaf is at a function's first instruction (uprobe): its caller is at [rsp] */
	__u32 trusted;  /* pc is the leaf's or came from a table row (not a frame-pointer guess) */
	__u32 last_mapping; /* index of the mapping the previous lookup found */
	__u32 generation;   /* the process's unwind_process.generation */
	__u32 table_frames; /* UNWIND_STAT_FRAMES_TABLE of this walk, added to unwind_stats at its end */
	__u32 cache_hits;   /* UNWIND_STAT_RULE_CACHE_HITS likewise */
	/* Bounds of the binary search in progress. Kept in map memory (volatile
	 * accesses) rather than registers: the verifier does not track values it
	 * stores there, so both branches of every search step reach the next step
	 * in the same abstract state and are pruned (with lo/hi in registers each
	 * step's outcome is a distinct state: 2^22 paths, "BPF program is too large"). */
	__u32 lo, hi;
	/* python.bpf.h: a thread state and a frame as read (before `stack`, so
	 * that any index the verifier allows stays inside this value). */
	__u64 py_tstate[PYTHON_TSTATE_BYTES / 8];
	__u64 py_frame[PYTHON_FRAME_BYTES / 8];
	struct python_process py_proc; /* the process's entry, copied once per walk */
	__u64 py_next;     /* thread search: the next thread state to look at */
	__u64 py_current;  /* frame walk: the next frame to read */
	__u64 py_pthread;  /* the thread's fs base: pthread_self() (3.8-3.10 thread keys) */
	__u32 py_ns_tid;   /* the thread's id in its pid namespace */
	__u32 py_frames;   /* Python frames recorded in this walk */
	__u32 py_new_group; /* the next frame recorded starts an outer activation */
	__u32 py_listed;    /* 0: not looked up yet in this walk, 1: a listed Python process, 2: not */
	struct unwind_stack stack;
	/* Kept from walk to walk (not reset): see the header comment. */
	struct unwind_cached_rule cache[UNWIND_RULE_CACHE_SLOTS];
};

#define UNWIND_OPAQUE(field) (*(volatile __u32 *)&(field))

/* Not shared between objects (each has its own), one slot per source. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_SOURCE_COUNT);
	__type(key, __u32);
	__type(value, struct unwind_walk);
} unwind_scratch SEC(".maps");

/* The registers a walk starts from. */
struct unwind_regs {
	__u64 ip;
	__u64 sp;
	__u64 bp;
	bool at_entry; /* ip is a function's first instruction (a uprobe on it) */
};

#define UNWIND_PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define UNWIND_USER_CS 0x33          /* __USER_CS: 64-bit user mode (__USER32_CS is 0x23) */

/* struct pt_regs of x86_64 as u64 words: the user-visible layout of
 * arch/x86/include/uapi/asm/ptrace.h (and of perf's sample regs), which does
 * not change between kernels. Read by word, not through vmlinux.h's BTF:
 * since 6.9 `cs` is a u16 in a union with FRED's csx. */
#define UNWIND_PT_REGS_WORDS 21
#define UNWIND_PT_BP 4
#define UNWIND_PT_IP 16
#define UNWIND_PT_CS 17
#define UNWIND_PT_SP 19

/* x86_64 signal frame (arch/x86/include/asm/sigframe.h, struct rt_sigframe):
 * when the handler returns into __restore_rt, `pretcode` has been popped and
 * rsp points at the struct ucontext: uc_flags (8) + uc_link (8) + uc_stack
 * (stack_t: 8 + 4 + pad 4 + 8 = 24) put uc_mcontext (struct sigcontext_64)
 * at rsp + 40. Its registers, in glibc's gregs order: r8..r15 (0-7), rdi 8,
 * rsi 9, REG_RBP 10, rbx 11, rdx 12, rax 13, rcx 14, REG_RSP 15, REG_RIP 16.
 * So rbp at rsp + 120, rsp at rsp + 160, rip at rsp + 168: read as the 7
 * words rbp..rip from rsp + 120. */
#define UNWIND_UC_MCONTEXT 40
#define UNWIND_SIG_RBP (UNWIND_UC_MCONTEXT + 10 * 8)
#define UNWIND_SIG_WORDS 7 /* rbp, rbx, rdx, rax, rcx, rsp, rip */
_Static_assert(__builtin_offsetof(struct rt_sigframe, uc) == 8, "rt_sigframe.uc");
_Static_assert(__builtin_offsetof(struct ucontext, uc_mcontext) == UNWIND_UC_MCONTEXT, "uc_mcontext");
_Static_assert(__builtin_offsetof(struct sigcontext_64, bp) == 10 * 8, "sigcontext bp");
_Static_assert(__builtin_offsetof(struct sigcontext_64, sp) == 15 * 8, "sigcontext sp");
_Static_assert(__builtin_offsetof(struct sigcontext_64, ip) == 16 * 8, "sigcontext ip");

static __always_inline void unwind_stat_add(__u32 src, __u32 reason, __u64 delta)
{
	__u32 index = src * UNWIND_STAT_COUNT + reason;
	__u64 *value = bpf_map_lookup_elem(&unwind_stats, &index);
	if (value)
		*value += delta;
}

static __always_inline void unwind_stat(__u32 src, __u32 reason)
{
	unwind_stat_add(src, reason, 1);
}

/* Asks the agent to describe `pid` (again), at most once per
 * UNWIND_REQUEST_INTERVAL_NS unless `always`. */
static __always_inline void unwind_request(__u32 pid, __u32 reason, __u32 src, bool always)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&unwind_requested, &pid);
	if (last && !always && now - *last < UNWIND_REQUEST_INTERVAL_NS)
		return;
	if (last)
		*last = now;
	else
		bpf_map_update_elem(&unwind_requested, &pid, &now, BPF_ANY);
	struct unwind_request *request = bpf_ringbuf_reserve(&unwind_requests, sizeof(*request), 0);
	if (!request) {
		unwind_stat(src, UNWIND_STAT_REQUESTS_LOST);
		return;
	}
	request->pid = pid;
	request->reason = reason;
	request->time_ns = now;
	bpf_ringbuf_submit(request, 0);
	unwind_stat(src, UNWIND_STAT_REQUESTS);
}

/* x86_64 THREAD_SIZE (PAGE_SIZE << THREAD_SIZE_ORDER) without KASAN, which
 * the pre-5.15 path assumes: the user pt_regs are the last words of the task's
 * kernel stack (task_pt_regs(); TOP_OF_KERNEL_STACK_PADDING is 0 on x86_64).
 * Another size reads words that fail the user-CS check below: no stack, never
 * a wrong one. */
#define UNWIND_THREAD_SIZE (4096 << 2)

/* The user registers of the current task at its last entry into the kernel
 * (syscall, interrupt, fault). False for kernel threads and 32-bit tasks. */
static __always_inline bool unwind_regs_of_current_task(struct unwind_regs *out)
{
	__u64 words[UNWIND_PT_REGS_WORDS];
	void *regs;
	if (unwind_features & UNWIND_KERNEL_TASK_REGS) {
		struct task_struct *task = bpf_get_current_task_btf();
		if (task->flags & UNWIND_PF_KTHREAD)
			return false;
		regs = (void *)bpf_task_pt_regs(task);
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		if (BPF_CORE_READ(task, flags) & UNWIND_PF_KTHREAD)
			return false;
		void *stack = BPF_CORE_READ(task, stack);
		regs = stack ? stack + UNWIND_THREAD_SIZE - sizeof(words) : NULL;
	}
	if (!regs || bpf_probe_read_kernel(words, sizeof(words), regs))
		return false;
	if ((words[UNWIND_PT_CS] & 0xffff) != UNWIND_USER_CS)
		return false;
	out->ip = words[UNWIND_PT_IP];
	out->sp = words[UNWIND_PT_SP];
	out->bp = words[UNWIND_PT_BP];
	out->at_entry = false;
	return true;
}

/* A perf sample's user registers: the interrupted ones when the sample hit
 * user mode, else the task's entry registers. */
static __always_inline bool unwind_regs_of_perf_sample(struct bpf_perf_event_data *ctx, struct unwind_regs *out)
{
	/* Context loads must be 8-byte words at constant offsets. */
	__u64 *words = (__u64 *)&ctx->regs;
	__u64 cs = words[UNWIND_PT_CS];
	if ((cs & 3) == 3) {
		if ((cs & 0xffff) != UNWIND_USER_CS)
			return false;
		out->ip = words[UNWIND_PT_IP];
		out->sp = words[UNWIND_PT_SP];
		out->bp = words[UNWIND_PT_BP];
		out->at_entry = false;
		return true;
	}
	return unwind_regs_of_current_task(out);
}

/* The mapping holding `pc`, NULL when none: the last one starting at or
 * before pc, if pc is below its end. */
static __always_inline struct unwind_mapping *unwind_find_mapping(struct unwind_walk *st, struct unwind_process *proc,
								  __u64 pc)
{
	/* Consecutive frames are mostly in one mapping (an interpreter's loop, a
	 * library's internals): the previous frame's first. */
	struct unwind_mapping *last = &proc->mappings[st->last_mapping & (UNWIND_MAX_MAPPINGS - 1)];
	if (last->start <= pc && pc < last->end)
		return last;
	__u32 count = proc->count;
	UNWIND_OPAQUE(st->lo) = 0;
	UNWIND_OPAQUE(st->hi) = count < UNWIND_MAX_MAPPINGS ? count : UNWIND_MAX_MAPPINGS;
	for (int i = 0; i < UNWIND_MAPPING_SEARCH_STEPS; i++) {
		__u32 lo = UNWIND_OPAQUE(st->lo), hi = UNWIND_OPAQUE(st->hi);
		if (lo >= hi)
			break;
		__u32 mid = (lo + hi) / 2;
		if (proc->mappings[mid & (UNWIND_MAX_MAPPINGS - 1)].start <= pc)
			UNWIND_OPAQUE(st->lo) = mid + 1;
		else
			UNWIND_OPAQUE(st->hi) = mid;
	}
	__u32 lo = UNWIND_OPAQUE(st->lo);
	if (lo == 0)
		return NULL;
	st->last_mapping = lo - 1;
	struct unwind_mapping *m = &proc->mappings[(lo - 1) & (UNWIND_MAX_MAPPINGS - 1)];
	return pc < m->end ? m : NULL;
}

/* The rule of the row covering `key` (ELF vaddr - vaddr_base) in a file's rows
 * [first, first + count), knowing that it is one of [first + lo, first + hi)
 * if any: NULL when key is before the first row; *bad when a lookup failed
 * (ranges beyond the maps' sizes). */
static __always_inline struct unwind_rule *unwind_find_rule(struct unwind_walk *st, __u32 first, __u32 lo, __u32 hi,
							    __u32 key, bool *bad)
{
	UNWIND_OPAQUE(st->lo) = lo;
	UNWIND_OPAQUE(st->hi) = hi;
	for (int i = 0; i < UNWIND_ROW_SEARCH_STEPS; i++) {
		__u32 lo = UNWIND_OPAQUE(st->lo), hi = UNWIND_OPAQUE(st->hi);
		if (lo >= hi)
			break;
		__u32 mid = (lo + hi) / 2;
		__u32 index = first + mid;
		struct unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &index);
		if (!row) {
			*bad = true;
			return NULL;
		}
		if (row->pc_low <= key)
			UNWIND_OPAQUE(st->lo) = mid + 1;
		else
			UNWIND_OPAQUE(st->hi) = mid;
	}
	lo = UNWIND_OPAQUE(st->lo);
	if (lo == 0)
		return NULL;
	__u32 index = first + lo - 1;
	struct unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &index);
	if (!row) {
		*bad = true;
		return NULL;
	}
	__u32 rule_index = row->rule;
	struct unwind_rule *rule = bpf_map_lookup_elem(&unwind_rules, &rule_index);
	if (!rule)
		*bad = true;
	return rule;
}

/* Outcome of one step (the loop stops on anything but UNWIND_CONTINUE). */
#define UNWIND_CONTINUE 0
#define UNWIND_END_STOP 1   /* undefined return address: complete */
#define UNWIND_END_NULL 2   /* rbp 0 in a frame-pointer step, or return address 0 */
#define UNWIND_END_FAULT 3
#define UNWIND_END_BAD 4

/* A frame-pointer step: the caller's rbp at [rbp], its return address at [rbp + 8]. */
static __always_inline int unwind_fp_step(struct unwind_walk *st, __u64 *ra)
{
	__u64 bp = st->bp;
	if (bp == 0)
		return UNWIND_END_NULL;
	if (bp < st->sp || (bp & 7))
		return UNWIND_END_BAD; /* not a frame of this stack */
	__u64 pair[2];
	if (bpf_probe_read_user(pair, sizeof(pair), (void *)bp))
		return UNWIND_END_FAULT;
	st->bp = pair[0];
	st->sp = bp + 16;
	*ra = pair[1];
	return UNWIND_CONTINUE;
}

/* CPython 3.12+'s `-X perf` trampoline, copied once per code object into
 * anonymous memory: `sub $8,%rsp; call *%rcx; add $8,%rsp; ret` (11 bytes, no
 * frame pointer, no CFI). A return address into it points at the `add`, 6
 * bytes in; the caller's frame is then at rsp + 16, rbp untouched. */
#define PERF_TRAMPOLINE_HEAD 0x8348d1ff08ec8348ULL /* 48 83 ec 08 ff d1 48 83, little-endian */
#define PERF_TRAMPOLINE_TAIL 0xc308c4U             /* c4 08 c3 */

static __always_inline int unwind_trampoline_step(struct unwind_walk *st, __u64 *ra)
{
	/* Only in listed Python processes (looked up once per walk): elsewhere
	 * (V8, the JVM, Go) a frame-pointer frame costs no code read. */
	if (!st->py_listed) {
		__u32 pid = st->pid;
		st->py_listed = bpf_map_lookup_elem(&python_processes, &pid) ? 1 : 2;
	}
	__u64 code[2] = {};
	if (st->py_listed != 1 || st->exact || st->pc < 6 || bpf_probe_read_user(code, 11, (void *)(st->pc - 6)))
		return UNWIND_END_BAD;
	if (code[0] != PERF_TRAMPOLINE_HEAD || (code[1] & 0xffffff) != PERF_TRAMPOLINE_TAIL)
		return UNWIND_END_BAD;
	if (bpf_probe_read_user(ra, sizeof(*ra), (void *)(st->sp + 8)))
		return UNWIND_END_FAULT;
	st->sp += 16;
	return UNWIND_CONTINUE;
}

/* Applies `rule` to the current frame: computes the caller's pc/sp/bp. */
static __always_inline int unwind_table_step(struct unwind_walk *st, struct unwind_rule *rule, __u64 *ra, bool *exact)
{
	__u64 sp = st->sp, cfa;
	__s64 offset = rule->cfa_offset;
	switch (rule->cfa_kind) {
	case UNWIND_CFA_RSP:
		cfa = sp + offset;
		break;
	case UNWIND_CFA_RBP:
		cfa = st->bp + offset;
		break;
	case UNWIND_CFA_DEREF_RSP:
	case UNWIND_CFA_DEREF_RBP: {
		__u64 base = rule->cfa_kind == UNWIND_CFA_DEREF_RSP ? sp : st->bp, value;
		if (bpf_probe_read_user(&value, sizeof(value), (void *)(base + offset)))
			return UNWIND_END_FAULT;
		cfa = value + (__s64)rule->cfa_aux;
		break;
	}
	case UNWIND_CFA_PLT:
		cfa = sp + 8 + ((st->pc & 15) >= (__u64)rule->cfa_aux ? 8 : 0);
		break;
	case UNWIND_CFA_SIGNAL: {
		__u64 regs[UNWIND_SIG_WORDS];
		if (bpf_probe_read_user(regs, sizeof(regs), (void *)(sp + UNWIND_SIG_RBP)))
			return UNWIND_END_FAULT;
		st->bp = regs[0];
		st->sp = regs[5];
		*ra = regs[6];
		*exact = true; /* the interrupted instruction itself, not a return address */
		unwind_stat(st->src, UNWIND_STAT_SIGNAL_FRAMES);
		return UNWIND_CONTINUE;
	}
	case UNWIND_CFA_STOP:
		return UNWIND_END_STOP;
	default:
		return UNWIND_END_BAD;
	}
	/* The caller's frame is above this one (an alternate signal stack is only
	 * left through a SIGNAL rule, which is not checked). */
	if (cfa <= sp)
		return UNWIND_END_BAD;
	if (rule->fp_kind == UNWIND_FP_SAVED && rule->fp_offset == -16) {
		/* `push %rbp` first thing: rbp and the return address side by side,
		 * one read (each bpf_probe_read_user costs ~150 ns here). */
		__u64 pair[2];
		if (bpf_probe_read_user(pair, sizeof(pair), (void *)(cfa - 16)))
			return UNWIND_END_FAULT;
		st->bp = pair[0];
		*ra = pair[1];
		st->sp = cfa;
		return UNWIND_CONTINUE;
	}
	if (bpf_probe_read_user(ra, sizeof(*ra), (void *)(cfa - 8)))
		return UNWIND_END_FAULT;
	if (rule->fp_kind == UNWIND_FP_SAVED) {
		__u64 bp;
		if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + (__s64)rule->fp_offset)))
			return UNWIND_END_FAULT;
		st->bp = bp;
	} else if (rule->fp_kind != UNWIND_FP_UNCHANGED) {
		return UNWIND_END_BAD;
	}
	st->sp = cfa;
	return UNWIND_CONTINUE;
}

static __always_inline __u64 unwind_mix(__u64 hash, __u64 value)
{
	hash ^= value;
	hash *= 0x9e3779b97f4a7c15ULL;
	return hash ^ (hash >> 29);
}

/* The table rule for `lookup` in process `pid`, NULL for a frame-pointer
 * step, with *fp_reason saying why (UNWIND_STAT_FP_*), or UNWIND_STAT_BAD_RULE
 * when a lookup failed (the walk ends). */
static __always_inline struct unwind_rule *unwind_find_frame_rule(struct unwind_walk *st, __u32 pid, __u64 lookup,
								   __u32 *fp_reason)
{
	__u32 src = st->src;
	struct unwind_process *proc = bpf_map_lookup_elem(&unwind_processes, &pid);
	struct unwind_mapping *m = proc ? unwind_find_mapping(st, proc, lookup) : NULL;
	if (!m && proc && st->trusted)
		unwind_request(pid, UNWIND_REQUEST_NO_MAPPING, src, false); /* mapped since it was described */
	if (!m)
		return NULL;
	*fp_reason = UNWIND_STAT_FP_MAPPING;
	if (m->kind != UNWIND_MAPPING_TABLE)
		return NULL;
	__u32 file_id = m->file_id;
	struct unwind_file *file = bpf_map_lookup_elem(&unwind_files, &file_id);
	if (!file) {
		*fp_reason = UNWIND_STAT_BAD_RULE;
		return NULL;
	}
	*fp_reason = UNWIND_STAT_FP_NO_ROW;
	__u64 vaddr = lookup - m->bias;
	__u64 key = vaddr - file->vaddr_base;
	__u32 count = file->row_count;
	if (count > UNWIND_MAX_FILE_ROWS)
		count = UNWIND_MAX_FILE_ROWS;
	if (vaddr < file->vaddr_base || key > 0xffffffffULL || !count)
		return NULL;
	bool bad = false;
	/* Rows [lo, hi) hold the last row at or before key. */
	__u32 lo = 0, hi = count, pages = file->page_count;
	if (pages) {
		__u32 page = key >> UNWIND_PAGE_SHIFT;
		if (page >= pages)
			page = pages - 1;
		__u32 index = file->first_page + page;
		__u32 *start = bpf_map_lookup_elem(&unwind_pages, &index);
		index++;
		__u32 *next = page + 1 < pages ? bpf_map_lookup_elem(&unwind_pages, &index) : NULL;
		if (start)
			lo = *start;
		if (next && *next + 1 < hi)
			hi = *next + 1;
		if (lo >= hi)
			lo = 0; /* inconsistent index: search the whole file */
	}
	struct unwind_rule *rule = unwind_find_rule(st, file->first_row, lo, hi, (__u32)key, &bad);
	if (bad) {
		*fp_reason = UNWIND_STAT_BAD_RULE;
		return NULL;
	}
	if (rule && rule->cfa_kind == UNWIND_CFA_INVALID) {
		*fp_reason = UNWIND_STAT_FP_INVALID_ROW;
		return NULL;
	}
	return rule;
}

/* One frame: records the current pc, then finds the caller's registers.
 * Returns 0 to go on, 1 to stop. */
static __always_inline int unwind_frame(struct unwind_walk *st, __u32 max_depth)
{
	__u32 depth = st->stack.depth;
	if (depth >= UNWIND_MAX_DEPTH || depth >= max_depth) {
		/* The previous step found a caller that does not fit. */
		st->stack.flags |= UNWIND_STACK_TRUNCATED;
		unwind_stat(st->src, UNWIND_STAT_DEPTH_LIMIT);
		return 1;
	}
	__u64 frame = st->pc | (st->exact ? UNWIND_FRAME_EXACT : 0);
	st->stack.frames[depth] = frame;
	st->stack.depth = depth + 1;
	st->hash = unwind_mix(st->hash, frame);

	__u32 src = st->src;
	if (st->entry) {
		/* A uprobe on a function's first instruction: nothing pushed yet, the
		 * return address at rsp (CFA = rsp + 8, rbp unchanged) whatever the
		 * function's table says, and with or without a table. */
		__u64 ra = 0;
		st->entry = 0;
		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)st->sp)) {
			st->stack.flags |= UNWIND_STACK_ERROR;
			unwind_stat(src, UNWIND_STAT_READ_FAULT);
			return 1;
		}
		if (ra == 0) {
			unwind_stat(src, UNWIND_STAT_NULL_END);
			return 1;
		}
		st->table_frames++;
		st->sp += 8;
		st->pc = ra;
		st->exact = 0;
		st->trusted = 1;
		return 0;
	}
	/* A return address is the instruction after a call: the call (and its
	 * row) is at ra - 1; a function ending in a call has its successor there. */
	__u64 lookup = st->exact ? st->pc : st->pc - 1;
	struct unwind_rule *rule = NULL;
	__u32 fp_reason = UNWIND_STAT_FP_NO_MAPPING;
	__u32 pid = st->pid;
	struct unwind_cached_rule *cached = &st->cache[unwind_cache_slot(lookup)];
	if (cached->pc == lookup && cached->pid == pid && cached->generation == st->generation) {
		rule = &cached->rule;
		st->cache_hits++;
	} else {
		rule = unwind_find_frame_rule(st, pid, lookup, &fp_reason);
		if (fp_reason == UNWIND_STAT_BAD_RULE) {
			unwind_stat(src, UNWIND_STAT_BAD_RULE);
			st->stack.flags |= UNWIND_STACK_ERROR;
			return 1;
		}
		if (rule) {
			cached->pc = lookup;
			cached->pid = pid;
			cached->generation = st->generation;
			cached->rule = *rule;
		}
	}

	__u64 ra = 0;
	bool exact = false;
	int outcome;
	if (rule) {
		outcome = unwind_table_step(st, rule, &ra, &exact);
		if (outcome == UNWIND_CONTINUE)
			st->table_frames++;
	} else if ((fp_reason == UNWIND_STAT_FP_MAPPING || fp_reason == UNWIND_STAT_FP_NO_MAPPING) &&
		   unwind_trampoline_step(st, &ra) == UNWIND_CONTINUE) {
		outcome = UNWIND_CONTINUE;
		unwind_stat(src, UNWIND_STAT_FRAMES_TRAMPOLINE);
	} else {
		outcome = unwind_fp_step(st, &ra);
		unwind_stat(src, fp_reason);
		st->stack.flags |= UNWIND_STACK_FP_USED;
		if (outcome == UNWIND_CONTINUE)
			unwind_stat(src, UNWIND_STAT_FRAMES_FP);
	}
	if (outcome == UNWIND_CONTINUE && ra == 0)
		outcome = UNWIND_END_NULL;
	switch (outcome) {
	case UNWIND_CONTINUE:
		st->pc = ra;
		st->exact = exact;
		st->trusted = rule != NULL;
		return 0;
	case UNWIND_END_STOP:
		st->stack.flags |= UNWIND_STACK_COMPLETE;
		unwind_stat(src, UNWIND_STAT_REACHED_STOP);
		return 1;
	case UNWIND_END_NULL:
		unwind_stat(src, UNWIND_STAT_NULL_END);
		return 1;
	case UNWIND_END_FAULT:
		st->stack.flags |= UNWIND_STACK_ERROR;
		unwind_stat(src, UNWIND_STAT_READ_FAULT);
		return 1;
	default:
		st->stack.flags |= UNWIND_STACK_ERROR;
		unwind_stat(src, UNWIND_STAT_BAD_RULE);
		return 1;
	}
}

/* One frame of the walk of `src` on this CPU (see the header comment).
 * Returns 0 to go on, 1 to stop. */
__noinline int unwind_frame_step(__u32 src, __u32 max_depth)
{
	struct unwind_walk *st = bpf_map_lookup_elem(&unwind_scratch, &src);
	if (!st)
		return 1;
	return unwind_frame(st, max_depth);
}

#include "python.bpf.h"

/* Walks the current task's user stack from `regs` (at most max_depth <=
 * UNWIND_MAX_DEPTH frames) into this CPU's scratch slot of `src`. NULL when
 * the process is not described (the caller then uses the kernel's
 * frame-pointer walk). The stack is valid until the next walk of `src` on this CPU. */
static __always_inline struct unwind_walk *unwind_user_stack(const struct unwind_regs *regs, __u32 pid, __u32 src,
							       __u32 max_depth)
{
	struct unwind_process *proc = bpf_map_lookup_elem(&unwind_processes, &pid);
	if (!proc) {
		unwind_stat(src, UNWIND_STAT_NO_PROCESS);
		unwind_request(pid, UNWIND_REQUEST_UNKNOWN_PROCESS, src, false);
		return NULL;
	}
	struct unwind_walk *st = bpf_map_lookup_elem(&unwind_scratch, &src);
	if (!st)
		return NULL;
	st->pc = regs->ip;
	st->sp = regs->sp;
	st->bp = regs->bp;
	st->hash = 0;
	st->exact = 1; /* the leaf's pc is where the thread is, not a return address */
	st->entry = regs->at_entry;
	st->trusted = 1;
	st->last_mapping = 0;
	st->generation = proc->generation;
	st->table_frames = 0;
	st->cache_hits = 0;
	st->src = src;
	st->pid = pid;
	st->stack.depth = 0;
	st->stack.flags = 0;
	st->py_listed = 0;
	unwind_stat(src, UNWIND_STAT_STACKS);

	__u64 start = bpf_ktime_get_ns();
	/* One iteration per frame, plus one to find that a caller does not fit. */
	for (int i = 0; i < UNWIND_MAX_DEPTH + 1; i++)
		if (unwind_frame_step(src, max_depth))
			break;
	unwind_stat_add(src, UNWIND_STAT_WALK_NS, bpf_ktime_get_ns() - start);
	python_walk(st, src);
	unwind_stat_add(src, UNWIND_STAT_FRAMES_TABLE, st->table_frames);
	unwind_stat_add(src, UNWIND_STAT_RULE_CACHE_HITS, st->cache_hits);
	return st;
}

/* Stores the walked stack in `stacks` (a HASH u64 -> struct unwind_stack)
 * unless there already, and returns its key (never 0); 0 when it could not be
 * stored (map full). */
static __always_inline __u64 unwind_store_stack(void *stacks, struct unwind_walk *st)
{
	__u64 hash = unwind_mix(unwind_mix(st->hash, st->stack.depth), st->stack.flags);
	if (hash == 0)
		hash = 1;
	if (bpf_map_lookup_elem(stacks, &hash))
		return hash;
	long err = bpf_map_update_elem(stacks, &hash, &st->stack, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: stored by another CPU meanwhile */) {
		unwind_stat(st->src, UNWIND_STAT_STORE_FAILED);
		return 0;
	}
	return hash;
}

/* The current task's user stack for a sample or an off-CPU block: walked with
 * the tables (unwinder = dwarf, `regs` known, the process described) into
 * `table_stacks`, whose key goes to *hash, else by the kernel's frame-pointer
 * walk into `fp_stacks` (*hash = 0). Returns the bpf_get_stackid() id, or -1
 * with a table stack (-ENOMEM when it could not be stored). */
static __always_inline long unwind_user_stack_key(void *ctx, const struct unwind_regs *regs, __u32 pid, __u32 src,
						  void *table_stacks, void *fp_stacks, __u64 *hash)
{
	struct unwind_walk *walked = NULL;
	*hash = 0;
	if (unwinder == UNWINDER_DWARF) {
		if (regs)
			walked = unwind_user_stack(regs, pid, src, UNWIND_MAX_DEPTH);
		else
			unwind_stat(src, UNWIND_STAT_NO_USER_REGS);
	}
	if (!walked)
		return bpf_get_stackid(ctx, fp_stacks, BPF_F_USER_STACK);
	*hash = unwind_store_stack(table_stacks, walked);
	return *hash ? -1 : -12 /* ENOMEM: lost, counted by the caller */;
}

#endif /* UNWIND_BPF_H */
