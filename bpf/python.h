/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CPython frames in user stacks: the layout shared by the BPF side
 * (python.bpf.h) and the agent (through Sources/CBPF).
 *
 * The agent writes one struct python_process per CPython process it has
 * checked (Sources/AgentCore/Interpreters): absolute addresses of its main
 * interpreter and of that interpreter's thread list, and the offsets of the
 * few fields the walk reads, for the process's CPython version. A process is
 * only listed once the agent has checked those offsets against its live
 * memory; an unlisted process is unwound natively, never mis-named.
 *
 * After the native walk (unwind.bpf.h), the thread's Python frames are
 * appended to the same struct unwind_stack, innermost first, two words each:
 *   word 0: PYTHON_FRAME_TAG | flags | code object address (< 2^47)
 *   word 1: instruction offset (code units) << 32 | fingerprint (32 bits)
 * Native frames never have PYTHON_FRAME_TAG (bit 62) set. The agent puts each
 * entry-delimited group of Python frames in place of the
 * _PyEval_EvalFrameDefault activation that ran it.
 */
#ifndef PYTHON_H
#define PYTHON_H

#define PYTHON_FRAME_TAG (1ULL << 62)
/* The first (innermost) Python frame of the next outer _PyEval_EvalFrameDefault
 * activation: the frames before it (up to the previous such frame, or the
 * first Python frame) ran in one activation. */
#define PYTHON_FRAME_NEW_GROUP (1ULL << 56)
#define PYTHON_FRAME_ADDRESS_MASK 0x00007fffffffffffULL
/* word 1's offset when the instruction pointer was not inside the code. */
#define PYTHON_OFFSET_UNKNOWN 0xffffffffu

/* Frames per stack (each takes two of the stack's UNWIND_MAX_DEPTH words). */
#define PYTHON_MAX_FRAMES 48
/* Thread states searched in a process's list when a thread's is not cached. */
#define PYTHON_MAX_THREADS 64
/* A python_threads value with this bit is not a thread state but where the
 * thread's search of a longer list goes on (thread states are 8-aligned). */
#define PYTHON_THREAD_RESUME 1ULL
/* Bytes read from a thread state (every offset read must be below). */
#define PYTHON_TSTATE_BYTES 184
/* Bytes read from an interpreter frame (every offset read must be below). */
#define PYTHON_FRAME_BYTES 112
/* ... of which a 3.11+ _PyInterpreterFrame needs (and gets) only these. */
#define PYTHON_FRAME_BYTES_311 72

/* How a frame says where its _PyEval_EvalFrameDefault activation began. */
enum python_marker_kind {
	PYTHON_MARKER_IS_ENTRY = 0,    /* 3.11: a bool `is_entry` on the activation's first frame */
	PYTHON_MARKER_OWNER_SHIM = 1,  /* 3.12+: a shim frame (owner == FRAME_OWNED_BY_CSTACK) below it */
	PYTHON_MARKER_EVERY_FRAME = 2, /* 3.8-3.10: every frame object is its own activation */
};

/* What identifies a thread state's thread (python_process.thread_key). */
enum python_thread_key {
	PYTHON_THREAD_KEY_NATIVE_TID = 0, /* 3.11+: native_thread_id, the tid in the process's pid namespace */
	PYTHON_THREAD_KEY_PTHREAD = 1,    /* 3.8-3.10: thread_id, pthread_self(): the thread's fs base (x86_64 glibc) */
};

/* What a frame's instruction field holds (python_process.instr_kind). */
enum python_instr_kind {
	PYTHON_INSTR_POINTER = 0,    /* 3.11+: address of the instruction, inside the code object */
	PYTHON_INSTR_CODE_UNITS = 1, /* 3.10: f_lasti, an int index in code units */
	PYTHON_INSTR_BYTES = 2,      /* 3.8, 3.9: f_lasti, an int byte offset */
};
#define PYTHON_OWNER_CSTACK 3

/* One checked CPython process (value of python_processes, key: pid). */
struct python_process {
	__u64 interp;       /* its main PyInterpreterState */
	__u64 threads_head; /* address of interp->threads.head */
	__u32 version;      /* major << 8 | minor, e.g. 0x030b */
	__u16 tstate_next;
	__u16 tstate_interp;
	__u16 tstate_native_thread_id; /* or thread_id (3.8-3.10): see thread_key */
	__u16 tstate_frame;        /* 3.11/3.12: tstate->cframe; 3.13: tstate->current_frame; 3.8-3.10: tstate->frame */
	__s16 cframe_current_frame; /* offset of current_frame in the cframe; -1: tstate_frame is the frame */
	__u16 frame_code;
	__u16 frame_previous;
	__u16 frame_instr;
	__u16 frame_marker;  /* is_entry (3.11) or owner (3.12+) byte */
	__u8 marker_kind;    /* enum python_marker_kind */
	__u8 thread_key;     /* enum python_thread_key */
	__u16 code_fingerprint; /* co_firstlineno: 8 bytes read there make the fingerprint */
	__u16 code_bytecode;    /* PyCode_Type.tp_basicsize: the first instruction */
	__u8 instr_kind;     /* enum python_instr_kind */
	__u8 reserved1;
	__u16 reserved2;
};

/* Counters of python_stats (per CPU). */
enum python_stat {
	PYTHON_STAT_STACKS = 0,        /* stacks of listed processes walked */
	PYTHON_STAT_NO_THREAD_STATE,   /* thread has no thread state (not a Python thread, or past PYTHON_MAX_THREADS) */
	PYTHON_STAT_THREAD_CACHE_HITS, /* thread state found through python_threads */
	PYTHON_STAT_IDLE,              /* thread state without a current frame */
	PYTHON_STAT_FRAMES,            /* Python frames recorded */
	PYTHON_STAT_READ_FAULT,        /* walk ended on a failed user-memory read */
	PYTHON_STAT_TRUNCATED,         /* walk ended for lack of room (PYTHON_MAX_FRAMES or the stack's words) */
	PYTHON_STAT_WALK_NS,           /* nanoseconds in Python walks */
	PYTHON_STAT_COUNT,
};

#define PYTHON_DEFAULT_PROCESSES 4096
#define PYTHON_DEFAULT_THREADS 16384

#endif /* PYTHON_H */
