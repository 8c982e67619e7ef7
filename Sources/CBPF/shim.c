#include "CBPF.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int cbpf_open_cpu_clock_event(int cpu, uint64_t frequency)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.freq = 1;
	attr.sample_freq = frequency;
	long fd = syscall(__NR_perf_event_open, &attr, -1 /* all processes */, cpu,
			  -1 /* no group */, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* The log is a byte ring: enough for the tail of a verifier log. */
#define LOG_CAPACITY (64 * 1024)
static char log_ring[LOG_CAPACITY];
static size_t log_start, log_length;
static bool log_echo;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_append(const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		size_t at = (log_start + log_length) % LOG_CAPACITY;
		log_ring[at] = text[i];
		if (log_length < LOG_CAPACITY)
			log_length++;
		else
			log_start = (log_start + 1) % LOG_CAPACITY;
	}
}

static int log_callback(enum libbpf_print_level level, const char *format, va_list args)
{
	char line[4096];
	int n = vsnprintf(line, sizeof(line), format, args);
	if (n < 0)
		return n;
	size_t length = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	pthread_mutex_lock(&log_lock);
	log_append(line, length);
	pthread_mutex_unlock(&log_lock);
	if (log_echo && level == LIBBPF_WARN)
		fwrite(line, 1, length, stderr);
	return n;
}

void cbpf_capture_libbpf_log(bool echo)
{
	log_echo = echo;
	libbpf_set_print(log_callback);
}

size_t cbpf_libbpf_log_copy(char *buffer, size_t capacity)
{
	if (capacity == 0)
		return 0;
	pthread_mutex_lock(&log_lock);
	size_t n = log_length < capacity - 1 ? log_length : capacity - 1;
	size_t skip = log_length - n; /* keep the newest bytes */
	for (size_t i = 0; i < n; i++)
		buffer[i] = log_ring[(log_start + skip + i) % LOG_CAPACITY];
	pthread_mutex_unlock(&log_lock);
	buffer[n] = '\0';
	return n;
}

void cbpf_libbpf_log_clear(void)
{
	pthread_mutex_lock(&log_lock);
	log_start = log_length = 0;
	pthread_mutex_unlock(&log_lock);
}

/* BPF_LINK_CREATE for a uprobe_multi link (kernel 6.6+). libbpf 1.1 predates
 * it, so the attribute is laid out here as the kernel's uapi defines it:
 * link_create's common part, then the uprobe_multi member of its union. */
struct cbpf_uprobe_multi_attr {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t multi_flags;
	uint32_t pid;
	uint32_t pad;
};

#define CBPF_BPF_LINK_CREATE 28
#define CBPF_BPF_TRACE_UPROBE_MULTI 48
#define CBPF_BPF_F_UPROBE_MULTI_RETURN 1

int cbpf_attach_uprobe_multi(int prog_fd, const char *path, const uint64_t *offsets, const uint64_t *cookies,
			     uint32_t count, bool retprobe)
{
	struct cbpf_uprobe_multi_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (uint32_t)prog_fd;
	attr.attach_type = CBPF_BPF_TRACE_UPROBE_MULTI;
	attr.path = (uint64_t)(uintptr_t)path;
	attr.offsets = (uint64_t)(uintptr_t)offsets;
	attr.cookies = (uint64_t)(uintptr_t)cookies;
	attr.cnt = count;
	attr.multi_flags = retprobe ? CBPF_BPF_F_UPROBE_MULTI_RETURN : 0;
	long fd = syscall(__NR_bpf, CBPF_BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : (int)fd;
}

int cbpf_set_mmap_threshold(int bytes)
{
	return mallopt(M_MMAP_THRESHOLD, bytes);
}

int cbpf_probe_perf_event_dynamic_hash(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, map_opts, .map_flags = BPF_F_NO_PREALLOC);
	int map = bpf_map_create(BPF_MAP_TYPE_HASH, "probe_dynamic", sizeof(__u32), sizeof(__u64), 1, &map_opts);
	if (map < 0)
		return -errno;
	/* key = 0 on the stack; r0 = lookup(map, &key); return 0 */
	struct bpf_insn insns[] = {
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ .code = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int prog = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, "probe_dynamic", "GPL", insns,
				 sizeof(insns) / sizeof(insns[0]), NULL);
	close(map);
	if (prog < 0)
		return 0;
	close(prog);
	return 1;
}
