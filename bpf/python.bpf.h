/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CPython frames, appended to a table-unwound user stack (python.h has the
 * layout and the encoding). Included by unwind.bpf.h, so the CPU sampler, the
 * off-CPU switch-out, the call-site uprobes and the event stacks all get them.
 *
 * Per stack of a listed process:
 * - the thread's PyThreadState: the one python_threads remembers for this
 *   thread, if it still says it is this thread (native_thread_id, as seen in
 *   the process's own pid namespace, and interp); else a bounded search of the
 *   interpreter's thread list (PYTHON_MAX_THREADS per sample; a longer list is
 *   searched on over the thread's next samples, from where the last one stopped). Every sample thus re-checks the offsets it
 *   relies on: a wrong table cannot name a frame, it finds no thread state;
 * - its current frame, then the chain of `previous` frames: for each, the code
 *   object, the instruction offset and a fingerprint (8 bytes at
 *   co_firstlineno), two words in the stack. Shim frames (3.12+) are skipped;
 *   they, and 3.11's is_entry, delimit the _PyEval_EvalFrameDefault
 *   activations (PYTHON_FRAME_NEW_GROUP on the first frame after a boundary).
 * Names, files and lines are read by the agent, from the process's memory.
 *
 * Like the native walk, each thread looked at and each frame is one call of a
 * global function (verified once, on its own) with its state in the CPU's
 * scratch slot: a loop over both inline makes the verifier explore every
 * combination of their branches ("program too large").
 *
 * Maps (python_maps.bpf.h): python_processes, python_threads and python_stats
 * are declared identically in every object and created once by the agent
 * (SharedBPFMaps), like the unwinder's.
 */
#ifndef PYTHON_BPF_H
#define PYTHON_BPF_H

#include "python.h"

#include "python_maps.bpf.h"

static __always_inline void python_stat_add(__u32 reason, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(&python_stats, &reason);
	if (value)
		*value += delta;
}

/* The current thread's id in its own pid namespace (what CPython's
 * native_thread_id holds: gettid() in the container). */
static __always_inline __u32 python_namespace_tid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};
	if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]))
		return 0;
	return upid.nr;
}

/* The u64 at byte `offset` of a block read into `words` (n words); 0 when
 * outside. The mask keeps the index inside struct unwind_walk whatever the
 * verifier believes of the comparison. */
#define PYTHON_WORD(words, n, offset) ((((offset) >> 3) < (n)) ? (words)[((offset) >> 3) & 31] : 0)

/* Reads a thread state into st->py_tstate; true when it is the current thread's. */
static __always_inline bool python_is_thread(struct unwind_walk *st, __u64 tstate)
{
	if (!tstate || bpf_probe_read_user(st->py_tstate, sizeof(st->py_tstate), (void *)tstate))
		return false;
	__u32 n = PYTHON_TSTATE_BYTES / 8;
	__u64 key = st->py_proc.thread_key == PYTHON_THREAD_KEY_PTHREAD ? st->py_pthread : st->py_ns_tid;
	return PYTHON_WORD(st->py_tstate, n, st->py_proc.tstate_native_thread_id) == key &&
	       PYTHON_WORD(st->py_tstate, n, st->py_proc.tstate_interp) == st->py_proc.interp;
}

/* One thread state of the list: 1 when found (st->py_tstate holds it) or the list ended. */
__noinline int python_thread_step(__u32 src)
{
	struct unwind_walk *st = bpf_map_lookup_elem(&unwind_scratch, &src);
	if (!st)
		return 1;
	__u64 tstate = st->py_next;
	if (!tstate)
		return 1;
	if (python_is_thread(st, tstate)) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_update_elem(&python_threads, &tid, &tstate, BPF_ANY);
		return 1;
	}
	__u64 next = PYTHON_WORD(st->py_tstate, PYTHON_TSTATE_BYTES / 8, st->py_proc.tstate_next);
	/* A failed read left the previous thread's words: never loop on them. */
	st->py_next = next != tstate ? next : 0;
	return 0;
}

/* One interpreter frame: records it (unless a shim) and moves to the previous
 * one. Returns 1 to stop. */
__noinline int python_frame_step(__u32 src)
{
	struct unwind_walk *st = bpf_map_lookup_elem(&unwind_scratch, &src);
	if (!st)
		return 1;
	__u64 frame = st->py_current;
	if (!frame)
		return 1;
	/* 3.11+ frames need 72 bytes: reading more could run past the end of the
	 * data stack's last chunk onto an unmapped page. Frame objects need 112. */
	__u32 size = st->py_proc.instr_kind == PYTHON_INSTR_POINTER ? PYTHON_FRAME_BYTES_311 : PYTHON_FRAME_BYTES;
	if (bpf_probe_read_user(st->py_frame, size, (void *)frame)) {
		python_stat_add(PYTHON_STAT_READ_FAULT, 1);
		return 1;
	}
	__u32 n = PYTHON_FRAME_BYTES / 8;
	__u64 code = PYTHON_WORD(st->py_frame, n, st->py_proc.frame_code);
	__u64 previous = PYTHON_WORD(st->py_frame, n, st->py_proc.frame_previous);
	__u64 instr = PYTHON_WORD(st->py_frame, n, st->py_proc.frame_instr);
	__u32 marker_at = st->py_proc.frame_marker;
	__u8 marker = marker_at < PYTHON_FRAME_BYTES ? ((__u8 *)st->py_frame)[marker_at & 127] : 0;
	st->py_current = previous != frame ? previous : 0;
	if (st->py_proc.marker_kind == PYTHON_MARKER_OWNER_SHIM && marker == PYTHON_OWNER_CSTACK) {
		st->py_new_group = st->py_frames > 0;
		return 0;
	}
	if (!code || code > PYTHON_FRAME_ADDRESS_MASK)
		return 0;
	__u32 depth = st->stack.depth;
	if (depth >= UNWIND_MAX_DEPTH - 1 || st->py_frames >= PYTHON_MAX_FRAMES) {
		st->stack.flags |= UNWIND_STACK_TRUNCATED;
		python_stat_add(PYTHON_STAT_TRUNCATED, 1);
		return 1;
	}
	__u64 fingerprint = 0;
	bpf_probe_read_user(&fingerprint, sizeof(fingerprint), (void *)(code + st->py_proc.code_fingerprint));
	__u64 first = code + st->py_proc.code_bytecode;
	__u64 offset = PYTHON_OFFSET_UNKNOWN;
	__u32 lasti = (__u32)instr; /* f_lasti: an int, -1 before the first instruction */
	if (st->py_proc.instr_kind == PYTHON_INSTR_CODE_UNITS) {
		if (lasti < 0x7fffffff)
			offset = lasti;
	} else if (st->py_proc.instr_kind == PYTHON_INSTR_BYTES) {
		if (lasti < 0x7fffffff)
			offset = lasti / 2;
	} else if (instr >= first && (instr - first) / 2 < PYTHON_OFFSET_UNKNOWN) {
		offset = (instr - first) / 2;
	}
	__u64 word0 = PYTHON_FRAME_TAG | (st->py_new_group ? PYTHON_FRAME_NEW_GROUP : 0) | code;
	__u64 word1 = offset << 32 | (__u32)(fingerprint ^ (fingerprint >> 32));
	st->stack.frames[depth] = word0;
	st->stack.frames[depth + 1] = word1;
	st->stack.depth = depth + 2;
	st->hash = unwind_mix(unwind_mix(st->hash, word0), word1);
	st->py_frames++;
	st->py_new_group = (st->py_proc.marker_kind == PYTHON_MARKER_IS_ENTRY && marker != 0) ||
			   st->py_proc.marker_kind == PYTHON_MARKER_EVERY_FRAME;
	return 0;
}

/* Appends the current thread's Python frames to the walk of `src` on this CPU
 * (after its native frames), when its process is listed. */
static __always_inline void python_walk(struct unwind_walk *st, __u32 src)
{
	__u32 pid = st->pid;
	struct python_process *proc = bpf_map_lookup_elem(&python_processes, &pid);
	if (!proc)
		return;
	__u64 start = bpf_ktime_get_ns();
	python_stat_add(PYTHON_STAT_STACKS, 1);
	st->py_proc = *proc;
	st->py_ns_tid = python_namespace_tid();
	st->py_pthread = 0;
	if (proc->thread_key == PYTHON_THREAD_KEY_PTHREAD) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		st->py_pthread = BPF_CORE_READ(task, thread.fsbase);
	}
	st->py_frames = 0;
	st->py_new_group = 0;

	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *cached = bpf_map_lookup_elem(&python_threads, &tid);
	__u64 remembered = cached ? *cached : 0;
	bool found = remembered && !(remembered & PYTHON_THREAD_RESUME) && python_is_thread(st, remembered);
	if (found) {
		python_stat_add(PYTHON_STAT_THREAD_CACHE_HITS, 1);
	} else {
		/* From the head of the list, or where this thread's last search stopped. */
		st->py_next = remembered & ~PYTHON_THREAD_RESUME;
		if (!(remembered & PYTHON_THREAD_RESUME) &&
		    bpf_probe_read_user(&st->py_next, sizeof(st->py_next), (void *)proc->threads_head))
			st->py_next = 0;
		for (int i = 0; i < PYTHON_MAX_THREADS; i++)
			if (python_thread_step(src))
				break;
		/* Found: the step stopped on it, with py_next still pointing at it (or it is
		 * the one after the last step, checked only here: remembered too). */
		found = st->py_next && python_is_thread(st, st->py_next);
		if (found) {
			__u64 tstate = st->py_next;
			bpf_map_update_elem(&python_threads, &tid, &tstate, BPF_ANY);
		} else {
			/* Cut at PYTHON_MAX_THREADS: the next sample of this thread goes on from
			 * there; at the end of the list, it starts again at the head. */
			__u64 resume = st->py_next ? st->py_next | PYTHON_THREAD_RESUME : 0;
			if (resume)
				bpf_map_update_elem(&python_threads, &tid, &resume, BPF_ANY);
			else if (cached)
				bpf_map_delete_elem(&python_threads, &tid);
		}
	}
	if (!found) {
		python_stat_add(PYTHON_STAT_NO_THREAD_STATE, 1);
		goto out;
	}

	__u32 n = PYTHON_TSTATE_BYTES / 8;
	__u64 frame = PYTHON_WORD(st->py_tstate, n, st->py_proc.tstate_frame);
	if (frame && st->py_proc.cframe_current_frame >= 0) {
		__u64 cframe = frame;
		frame = 0;
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(cframe + st->py_proc.cframe_current_frame))) {
			python_stat_add(PYTHON_STAT_READ_FAULT, 1);
			goto out;
		}
	}
	if (!frame) {
		python_stat_add(PYTHON_STAT_IDLE, 1);
		goto out;
	}
	st->py_current = frame;
	/* Shims take a step each: twice the frames at most. */
	for (int i = 0; i < PYTHON_MAX_FRAMES * 2; i++)
		if (python_frame_step(src))
			break;
	python_stat_add(PYTHON_STAT_FRAMES, st->py_frames);
out:
	python_stat_add(PYTHON_STAT_WALK_NS, bpf_ktime_get_ns() - start);
}

#endif /* PYTHON_BPF_H */
