// SPDX-License-Identifier: GPL-2.0
/* Loads every object that includes bpf/unwind.bpf.h with unwinder = fp and
 * = dwarf (maps sized as the agent would) and prints the verifier's verdict
 * and each program's verified instruction count. Used on this kernel and,
 * statically linked, in a QEMU guest on other kernels: `verify [-v]`. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "profile.skel.h"
#include "offcpu.skel.h"
#include "dns.skel.h"
#include "tls.skel.h"
#include "unwind.h"

static bool verbose;
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || (!verbose && level == LIBBPF_INFO))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void size_maps(struct bpf_object *obj, bool dwarf)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		if (!dwarf)
			continue;
		if (!strcmp(name, "unwind_rows"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_ROWS);
		else if (!strcmp(name, "unwind_rules"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_RULES);
		else if (!strcmp(name, "unwind_files"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_FILES);
		else if (!strcmp(name, "unwind_pages"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_PAGES);
		else if (!strcmp(name, "unwind_processes"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_PROCESSES);
		else if (!strcmp(name, "user_stacks"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_USER_STACKS);
		else if (!strcmp(name, "offcpu_user_stacks"))
			bpf_map__set_max_entries(map, UNWIND_DEFAULT_OFFCPU_USER_STACKS);
	}
}

static int report(const char *what, struct bpf_object *obj, int err)
{
	struct bpf_program *prog;
	printf("%-8s %s", what, err ? "REJECTED" : "ok");
	if (err)
		printf(" (%d)", err);
	else
		bpf_object__for_each_program(prog, obj) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			if (bpf_program__fd(prog) >= 0 && !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				printf("  %s=%u", bpf_program__name(prog), info.verified_insns);
		}
	printf("\n");
	return err ? 1 : 0;
}

#define CHECK(name, dwarf)                                                          \
	do {                                                                        \
		struct name##_bpf *s = name##_bpf__open();                          \
		if (!s) {                                                           \
			printf("%-8s open failed\n", #name);                        \
			failures++;                                                 \
			break;                                                      \
		}                                                                   \
		s->rodata->unwinder = (dwarf) ? UNWINDER_DWARF : UNWINDER_FP;       \
		size_maps(s->obj, dwarf);                                           \
		failures += report(#name, s->obj, name##_bpf__load(s));             \
		name##_bpf__destroy(s);                                             \
	} while (0)

int main(int argc, char **argv)
{
	verbose = argc > 1 && !strcmp(argv[1], "-v");
	libbpf_set_print(print_libbpf);
	struct utsname u;
	uname(&u);
	int failures = 0;
	for (int dwarf = 0; dwarf < 2; dwarf++) {
		printf("kernel %s, unwinder = %s\n", u.release, dwarf ? "dwarf" : "fp");
		CHECK(profile, dwarf);
		CHECK(offcpu, dwarf);
		CHECK(dns, dwarf);
		CHECK(tls, dwarf);
	}
	printf("%s\n", failures ? "VERIFIER: FAILURES" : "VERIFIER: ALL OK");
	return failures != 0;
}
