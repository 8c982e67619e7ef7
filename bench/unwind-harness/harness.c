// SPDX-License-Identifier: GPL-2.0
/* Harness for the table unwinder (bpf/unwind.bpf.h), without the agent:
 *   harness fp|dwarf|offcpu|callsite PID TABLES SECONDS FREQ > stacks.txt
 * offcpu and callsite load profile.bpf.o (dwarf) only to create the shared
 * maps, then offcpu.bpf.o (sched_switch) or dns.bpf.o (getaddrinfo uprobe in
 * libc.so.6) with those maps (bpf_map__reuse_fd) and print their stacks
 * (offcpu: COUNT = ms blocked; callsite: one line per call-site record).
 * loads profile.bpf.o (the skeleton made by `make bpf`) with unwinder = fp or
 * dwarf and filter_by_pid on PID, fills the unwind maps from TABLES (written
 * by tables.py), samples every CPU with a CPU-clock perf event at FREQ Hz for
 * SECONDS, then prints one line per (stack, count):
 *   COUNT FLAGS DEPTH FRAME...        (hex frames, leaf first; bit 63 = exact pc)
 * and on stderr the unwind counters and the program's BPF run time per sample
 * (needs kernel.bpf_stats_enabled=1). With PER_TASK=1 in the environment, one
 * perf event follows PID instead of one per CPU, so that the program runs
 * for PID's samples only and run_time_ns / run_cnt is their cost. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "profile.skel.h"
#include "offcpu.skel.h"
#include "dns.skel.h"
#include "events.h"
#include "profile.h"
#include "unwind.h"

static const char *stat_names[UNWIND_STAT_COUNT] = {
	"stacks", "no_process", "no_user_regs", "reached_stop", "null_end", "depth_limit", "read_fault",
	"bad_rule", "frames_table", "frames_fp", "fp_no_mapping", "fp_mapping", "fp_no_row", "fp_invalid_row",
	"signal_frames", "store_failed", "walk_ns",
};

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int load_tables(struct profile_bpf *skel, const char *path, unsigned pid)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	static struct unwind_process proc;
	memset(&proc, 0, sizeof(proc));
	char kind;
	unsigned rules = 0, rows = 0, pages = 0;
	int rules_fd = bpf_map__fd(skel->maps.unwind_rules), rows_fd = bpf_map__fd(skel->maps.unwind_rows);
	int files_fd = bpf_map__fd(skel->maps.unwind_files);
	while (fscanf(f, " %c", &kind) == 1) {
		if (kind == 'R') {
			struct unwind_rule r = {};
			int ck, fk;
			if (fscanf(f, "%d %d %d %d %d", &ck, &fk, &r.cfa_offset, &r.cfa_aux, &r.fp_offset) != 5)
				return -EINVAL;
			r.cfa_kind = ck;
			r.fp_kind = fk;
			if (bpf_map_update_elem(rules_fd, &rules, &r, 0))
				return -errno;
			rules++;
		} else if (kind == 'F') {
			unsigned id;
			struct unwind_file file = {};
			if (fscanf(f, "%u %u %u %llu %u %u", &id, &file.first_row, &file.row_count,
				   (unsigned long long *)&file.vaddr_base, &file.first_page, &file.page_count) != 6)
				return -EINVAL;
			if (bpf_map_update_elem(files_fd, &id, &file, 0))
				return -errno;
		} else if (kind == 'G') {
			__u32 row;
			if (fscanf(f, "%u", &row) != 1)
				return -EINVAL;
			if (bpf_map_update_elem(bpf_map__fd(skel->maps.unwind_pages), &pages, &row, 0))
				return -errno;
			pages++;
		} else if (kind == 'W') {
			struct unwind_row row;
			if (fscanf(f, "%u %u", &row.pc_low, &row.rule) != 2)
				return -EINVAL;
			if (bpf_map_update_elem(rows_fd, &rows, &row, 0))
				return -errno;
			rows++;
		} else if (kind == 'M') {
			if (proc.count >= UNWIND_MAX_MAPPINGS)
				continue;
			struct unwind_mapping *m = &proc.mappings[proc.count];
			if (fscanf(f, "%llu %llu %llu %u %u", (unsigned long long *)&m->start, (unsigned long long *)&m->end, (unsigned long long *)&m->bias, &m->file_id,
				   &m->kind) != 5)
				return -EINVAL;
			if (m->start >= (1ULL << 47)) /* [vsyscall]: a kernel address */
				continue;
			proc.count++;
		}
	}
	fclose(f);
	fprintf(stderr, "loaded %u rules, %u rows, %u pages, %u mappings\n", rules, rows, pages, proc.count);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.unwind_processes), &pid, &proc, 0) ? -errno : 0;
}

static void print_stack(unsigned long long count, const struct unwind_stack *stack)
{
	printf("%llu %#x %u", count, stack->flags, stack->depth);
	for (__u32 i = 0; i < stack->depth && i < UNWIND_MAX_DEPTH; i++)
		printf(" %llx", (unsigned long long)stack->frames[i]);
	printf("\n");
}

static void print_stats(int fd, __u32 source)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 values[ncpu];
	for (__u32 i = 0; i < UNWIND_STAT_COUNT; i++) {
		__u32 key = source * UNWIND_STAT_COUNT + i;
		__u64 sum = 0;
		if (bpf_map_lookup_elem(fd, &key, values) == 0)
			for (int c = 0; c < ncpu; c++)
				sum += values[c];
		fprintf(stderr, "unwind %-15s %llu\n", stat_names[i], (unsigned long long)sum);
	}
}

/* The shared maps of the profile object, handed to another object. */
static int reuse_maps(struct bpf_object *obj, struct profile_bpf *creator)
{
	const struct bpf_map *shared[] = { creator->maps.unwind_rows, creator->maps.unwind_rules, creator->maps.unwind_files,
					   creator->maps.unwind_pages, creator->maps.unwind_processes, creator->maps.unwind_stats,
					   creator->maps.target_pids };
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, bpf_map__name(shared[i]));
		if (!map || bpf_map__reuse_fd(map, bpf_map__fd(shared[i])))
			return -1;
	}
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct call_site_record *r = data;
	if (r->type != EVENT_CALL_SITE || size < sizeof(*r))
		return 0;
	struct unwind_stack stack = { .depth = r->depth };
	for (__u32 i = 0; i < r->depth && i + r->first < EVENT_STACK_DEPTH; i++)
		stack.frames[i] = r->stack[r->first + i];
	print_stack(1, &stack);
	return 0;
}

static int run_offcpu(struct profile_bpf *creator, unsigned pid, int seconds)
{
	struct offcpu_bpf *skel = offcpu_bpf__open();
	if (!skel || reuse_maps(skel->obj, creator))
		return 1;
	skel->rodata->unwinder = UNWINDER_DWARF;
	skel->rodata->filter_by_pid = true;
	bpf_map__set_max_entries(skel->maps.offcpu_user_stacks, UNWIND_DEFAULT_OFFCPU_USER_STACKS);
	bpf_program__set_autoload(skel->progs.offcpu_switch_raw, false);
	bpf_program__set_autoload(skel->progs.offcpu_task_exit_raw, false);
	if (offcpu_bpf__load(skel) || offcpu_bpf__attach(skel)) {
		fprintf(stderr, "offcpu: load/attach failed\n");
		return 1;
	}
	sleep(seconds);
	offcpu_bpf__detach(skel);
	print_stats(bpf_map__fd(creator->maps.unwind_stats), UNWIND_SOURCE_OFFCPU);
	int counts_fd = bpf_map__fd(skel->maps.offcpu_counts);
	struct profile_key key, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		__u64 ns;
		struct unwind_stack stack = {};
		if (bpf_map_lookup_elem(counts_fd, &key, &ns) || !key.user_stack_hash ||
		    bpf_map_lookup_elem(bpf_map__fd(skel->maps.offcpu_user_stacks), &key.user_stack_hash, &stack))
			continue;
		print_stack(ns / 1000000, &stack);
	}
	offcpu_bpf__destroy(skel);
	return 0;
}

static int run_callsite(struct profile_bpf *creator, unsigned pid, int seconds)
{
	struct dns_bpf *skel = dns_bpf__open();
	if (!skel || reuse_maps(skel->obj, creator))
		return 1;
	skel->rodata->unwinder = UNWINDER_DWARF;
	skel->rodata->filter_by_pid = true;
	bpf_program__set_autoload(skel->progs.events_task_exit_raw, false);
	if (dns_bpf__load(skel)) {
		fprintf(stderr, "dns: load failed\n");
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = "getaddrinfo");
	struct bpf_link *link = bpf_program__attach_uprobe_opts(skel->progs.dns_getaddrinfo_enter, -1,
								"/usr/lib/x86_64-linux-gnu/libc.so.6", 0, &opts);
	if (!link) {
		fprintf(stderr, "dns: attach failed\n");
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.event_records), on_record, NULL, NULL);
	for (int i = 0; rb && i < seconds * 10; i++)
		ring_buffer__poll(rb, 100);
	bpf_link__destroy(link);
	ring_buffer__free(rb);
	print_stats(bpf_map__fd(creator->maps.unwind_stats), UNWIND_SOURCE_CALL_SITE);
	dns_bpf__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s fp|dwarf PID TABLES SECONDS FREQ\n", argv[0]);
		return 2;
	}
	bool offcpu = strcmp(argv[1], "offcpu") == 0, callsite = strcmp(argv[1], "callsite") == 0;
	bool dwarf = strcmp(argv[1], "dwarf") == 0 || offcpu || callsite;
	unsigned pid = strtoul(argv[2], 0, 0);
	int seconds = atoi(argv[4]), freq = atoi(argv[5]);
	libbpf_set_print(print_libbpf);

	struct profile_bpf *skel = profile_bpf__open();
	if (!skel)
		return 1;
	skel->rodata->filter_by_pid = true;
	skel->rodata->unwinder = dwarf ? UNWINDER_DWARF : UNWINDER_FP;
	if (dwarf) {
		bpf_map__set_max_entries(skel->maps.unwind_rows, UNWIND_DEFAULT_ROWS);
		bpf_map__set_max_entries(skel->maps.unwind_rules, UNWIND_DEFAULT_RULES);
		bpf_map__set_max_entries(skel->maps.unwind_files, UNWIND_DEFAULT_FILES);
		bpf_map__set_max_entries(skel->maps.unwind_pages, UNWIND_DEFAULT_PAGES);
		bpf_map__set_max_entries(skel->maps.unwind_processes, UNWIND_DEFAULT_PROCESSES);
		bpf_map__set_max_entries(skel->maps.user_stacks, UNWIND_DEFAULT_USER_STACKS);
	}
	int err = profile_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load: %d\n", err);
		return 1;
	}
	fprintf(stderr, "loaded profile.bpf.o, unwinder = %s\n", dwarf ? "dwarf" : "fp");
	if (seconds == 0)
		return 0; /* verifier check only */
	__u8 one = 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.target_pids), &pid, &one, 0);
	if (dwarf && (err = load_tables(skel, argv[3], pid))) {
		fprintf(stderr, "tables: %d\n", err);
		return 1;
	}

	if (offcpu)
		return run_offcpu(skel, pid, seconds);
	if (callsite)
		return run_callsite(skel, pid, seconds);
	int online = sysconf(_SC_NPROCESSORS_ONLN);
	struct bpf_link *links[256];
	bool per_task = getenv("PER_TASK") && atoi(getenv("PER_TASK"));
	int tids[256], ntids = 0;
	if (per_task) { /* one event per thread of PID (the threads there now) */
		char path[64];
		snprintf(path, sizeof(path), "/proc/%u/task", pid);
		DIR *dir = opendir(path);
		struct dirent *d;
		while (dir && (d = readdir(dir)) && ntids < 256)
			if (d->d_name[0] != '.')
				tids[ntids++] = atoi(d->d_name);
		if (dir)
			closedir(dir);
		online = ntids;
	}
	for (int cpu = 0; cpu < online && cpu < 256; cpu++) {
		struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CPU_CLOCK,
						.size = sizeof(attr), .freq = 1, .sample_freq = freq };
		int fd = per_task ? syscall(__NR_perf_event_open, &attr, tids[cpu], -1, -1, 0)
				  : syscall(__NR_perf_event_open, &attr, -1, cpu, -1, 0);
		if (fd < 0) {
			perror("perf_event_open");
			return 1;
		}
		links[cpu] = bpf_program__attach_perf_event(skel->progs.profile_sample, fd);
		if (!links[cpu]) {
			perror("attach");
			return 1;
		}
	}
	sleep(seconds);
	for (int cpu = 0; cpu < online && cpu < 256; cpu++)
		bpf_link__destroy(links[cpu]);

	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.profile_sample), &info, &len);
	fprintf(stderr, "bpf: run_cnt %llu run_time_ns %llu = %.0f ns per sample\n", (unsigned long long)info.run_cnt,
		(unsigned long long)info.run_time_ns, info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0);

	if (dwarf)
		print_stats(bpf_map__fd(skel->maps.unwind_stats), UNWIND_SOURCE_CPU);

	int counts_fd = bpf_map__fd(skel->maps.counts);
	struct profile_key key, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		__u64 count;
		if (bpf_map_lookup_elem(counts_fd, &key, &count))
			continue;
		struct unwind_stack stack = {};
		if (key.user_stack_hash) {
			if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.user_stacks), &key.user_stack_hash, &stack))
				continue;
		} else if (key.user_stack_id >= 0) {
			__u64 frames[PROFILE_MAX_STACK_DEPTH] = {};
			if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stacks), &key.user_stack_id, frames) == 0) {
				while (stack.depth < PROFILE_MAX_STACK_DEPTH && frames[stack.depth]) {
					stack.frames[stack.depth] = frames[stack.depth] | (stack.depth ? 0 : UNWIND_FRAME_EXACT);
					stack.depth++;
				}
				stack.flags = 0x100; /* kernel frame-pointer walk */
			}
		}
		print_stack(count, &stack);
	}
	profile_bpf__destroy(skel);
	return 0;
}
