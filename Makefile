# profiler-agent: `make build` (BPF objects + skeletons + fixtures + the agent),
# `make test` (= scripts/test.sh: installs what is missing, builds, runs every
# test as root), `make run` (= scripts/run.sh: installs, builds, records 10 s).
SHELL := /bin/bash
.DEFAULT_GOAL := build

CLANG ?= clang
CXX_CLANG ?= clang++
GCC ?= gcc
BPFTOOL ?= bpftool
SWIFT ?= swift
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BUILD := .build
BPF_OUT := $(BUILD)/bpf
SKEL_DIR := Sources/CBPF/include
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_HEADERS := $(wildcard bpf/*.h)
SKELETONS := $(patsubst bpf/%.bpf.c,$(SKEL_DIR)/%.skel.h,$(BPF_SRCS))

# The agent is built with frame pointers so that it can be profiled (by itself, by perf).
SWIFT_FP := -Xswiftc -Xcc -Xswiftc -fno-omit-frame-pointer -Xcc -fno-omit-frame-pointer
# SWIFT_EXTRA: e.g. --static-swift-stdlib for a container image without the Swift runtime.
SWIFT_EXTRA ?=
SWIFT_BUILD_FLAGS := -c release $(SWIFT_FP) $(SWIFT_EXTRA)

FIX := $(BUILD)/fixtures
FIX_CFLAGS := -O2 -g0 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
FIXTURES := $(FIX)/cpu_split $(FIX)/read_loop $(FIX)/libfixture.so $(FIX)/libfixture_stripped.so \
	$(FIX)/symbols_pie $(FIX)/symbols_nopie $(FIX)/symbols_dynsym $(FIX)/symbols_buildid_debug \
	$(FIX)/symbols_debuglink $(FIX)/cpp_names $(FIX)/sleeper $(FIX)/pipe_block $(FIX)/dns_lookup $(FIX)/churn_child \
	$(FIX)/unwind_target $(FIX)/unwind_target_debug_frame $(FIX)/libunwind_hop.so $(FIX)/unwind_scenarios \
	$(FIX)/JavaChain.class $(FIX)/vdso_loop $(FIX)/symbols_minidebuginfo

.SECONDARY:
.PHONY: build bpf fixtures agent test unit-tests run setup clean proto bench fuzz soak check-sanitizers kernel-matrix

build: bpf fixtures agent

setup:
	./scripts/setup.sh

# --- BPF: compile (CO-RE against the committed vmlinux.h), strip DWARF, generate skeletons.
bpf: $(SKELETONS)

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HEADERS) bpf/vmlinux.h
	@mkdir -p $(BPF_OUT)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ibpf -Wall -Werror -c $< -o $@

$(BPF_OUT)/%.o: $(BPF_OUT)/%.bpf.o
	$(BPFTOOL) gen object $@ $<

$(SKEL_DIR)/%.skel.h: $(BPF_OUT)/%.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# --- The agent.
agent: bpf
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product profiler-agent

# --- Fixtures: programs with known behaviour, built from source.
fixtures: $(FIXTURES)

# The JVM fixture of the JIT perf-map tests (Debian's OpenJDK 17).
$(FIX)/JavaChain.class: Fixtures/JavaChain.java
	@mkdir -p $(FIX)
	javac -d $(FIX) $<

$(FIX)/cpu_split: Fixtures/cpu_split.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/churn_child: Fixtures/churn_child.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/sleeper: Fixtures/sleeper.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/vdso_loop: Fixtures/vdso_loop.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/pipe_block: Fixtures/pipe_block.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/dns_lookup: Fixtures/dns_lookup.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/read_loop: Fixtures/read_loop.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -Wl,--build-id -o $@ $<

$(FIX)/libfixture.so: Fixtures/libfixture.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -fPIC -shared -Wl,--build-id -o $@ $<

$(FIX)/libfixture_stripped.so: $(FIX)/libfixture.so
	strip --strip-all -o $@ $<

$(FIX)/symbols_pie: Fixtures/symbols.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -fPIE -pie -Wl,--build-id -o $@ $<

$(FIX)/symbols_nopie: Fixtures/symbols.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -fno-pie -no-pie -Wl,--build-id -o $@ $<

# Only .dynsym survives strip --strip-all; -rdynamic puts the functions there.
$(FIX)/symbols_dynsym: Fixtures/symbols.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -fPIE -pie -rdynamic -Wl,--build-id -o $@.full $<
	strip --strip-all -o $@ $@.full && rm -f $@.full

# Symbols (and DWARF, as in distribution debug packages) only in a separate
# debug file found by build-id under $(FIX)/debug.
$(FIX)/symbols_buildid_debug: Fixtures/symbols.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -g -fPIE -pie -Wl,--build-id -o $@.full $<
	id=$$(readelf -n $@.full | awk '/Build ID/ {print $$3}'); \
	  mkdir -p $(FIX)/debug/.build-id/$${id:0:2}; \
	  objcopy --only-keep-debug $@.full $(FIX)/debug/.build-id/$${id:0:2}/$${id:2}.debug
	strip --strip-all -o $@ $@.full && rm -f $@.full

# The same, found by .gnu_debuglink (no build-id).
# MiniDebugInfo as Fedora's find-debuginfo makes it: the function symbols .dynsym lacks, in an
# xz-compressed ELF image added as .gnu_debugdata to the stripped binary (.full is the reference).
$(FIX)/symbols_minidebuginfo: Fixtures/symbols.c
	@mkdir -p $(FIX)
	$(CLANG) $(FIX_CFLAGS) -fPIE -pie -Wl,--build-id -o $@.full $<
	nm -D --format=posix --defined-only $@.full | awk '{ print $$1 }' | sort > $@.dynsyms
	nm --format=posix --defined-only $@.full | awk '$$2 == "T" || $$2 == "t" || $$2 == "D" { print $$1 }' | sort > $@.funcsyms
	comm -13 $@.dynsyms $@.funcsyms > $@.keep
	objcopy --only-keep-debug $@.full $@.debug
	objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=$@.keep $@.debug $@.mini
	xz -f $@.mini
	strip --strip-all -R .comment -o $@ $@.full
	objcopy --add-section .gnu_debugdata=$@.mini.xz $@
	rm -f $@.dynsyms $@.funcsyms $@.keep $@.debug $@.mini.xz

$(FIX)/symbols_debuglink: Fixtures/symbols.c
	@mkdir -p $(FIX)/.debug
	$(CLANG) $(FIX_CFLAGS) -g -fPIE -pie -Wl,--build-id=none -o $@.full $<
	objcopy --only-keep-debug $@.full $(FIX)/.debug/symbols_debuglink.debug
	strip --strip-all -o $@ $@.full && rm -f $@.full
	objcopy --add-gnu-debuglink=$(FIX)/.debug/symbols_debuglink.debug $@

# No frame pointers, as distributions build: the unwind-table rows are compared with readelf's.
# Known stacks without frame pointers anywhere (the program and a library it calls through a
# lazy PLT), compared with gdb by UnwindingTests.
NOFP_CFLAGS := -O2 -g0 -fomit-frame-pointer -fasynchronous-unwind-tables
$(FIX)/libunwind_hop.so: Fixtures/unwind_hop.c
	@mkdir -p $(FIX)
	$(GCC) $(NOFP_CFLAGS) -fPIC -shared -Wl,--build-id -o $@ $<

$(FIX)/unwind_scenarios: Fixtures/unwind_scenarios.c $(FIX)/libunwind_hop.so
	@mkdir -p $(FIX)
	$(GCC) $(NOFP_CFLAGS) -pthread -Wl,--build-id -Wl,-z,lazy -o $@ $< -L$(FIX) -lunwind_hop -Wl,-rpath,$(abspath $(FIX))

$(FIX)/unwind_target: Fixtures/unwind_target.c
	@mkdir -p $(FIX)
	$(GCC) -O2 -g0 -fomit-frame-pointer -fasynchronous-unwind-tables -Wl,--build-id -o $@ $<

# The same without .eh_frame for its own code (like musl): its FDEs are in the .debug_frame of a
# separate debug file found by build-id under $(FIX)/debug.
$(FIX)/unwind_target_debug_frame: Fixtures/unwind_target.c
	@mkdir -p $(FIX)
	$(GCC) -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables -fno-unwind-tables -Wl,--build-id -o $@.full $<
	id=$$(readelf -n $@.full | awk '/Build ID/ {print $$3}'); \
	  mkdir -p $(FIX)/debug/.build-id/$${id:0:2}; \
	  objcopy --only-keep-debug $@.full $(FIX)/debug/.build-id/$${id:0:2}/$${id:2}.debug
	strip --strip-all -o $@ $@.full && rm -f $@.full

$(FIX)/cpp_names: Fixtures/cpp_names.cpp
	@mkdir -p $(FIX)
	$(CXX_CLANG) $(FIX_CFLAGS) -fno-exceptions -fno-rtti -Wl,--build-id -o $@ $<

# --- Tests: everything, as root, on real BPF (installs what is missing first).
test:
	./scripts/test.sh

# --- The real-BPF suite on Debian's 6.1 and 6.12 kernels under QEMU (TCG) and on this host's
# kernel (tests/vm/kernel-matrix.sh; root). FULL=1: the larger suite, and 5.10. AGENT=/FIXTURES= use another
# build (then nothing is installed or built first).
FULL ?= 0
kernel-matrix:
ifndef AGENT
	./scripts/setup.sh
	$(MAKE) build
endif
	FULL=$(FULL) ./tests/vm/kernel-matrix.sh

# --- Run: record a 10 s CPU profile of every process into cpu.pb.gz.
run:
	./scripts/run.sh

# --- Regenerate the committed pprof Swift code (needs protoc and protoc-gen-swift on PATH).
proto:
	cd Sources/Pprof && protoc --swift_out=. --swift_opt=Visibility=Public profile.proto

clean:
	rm -rf $(BUILD) $(SKELETONS)

# --- Benchmarks next to perf, bpftrace, syscount and llvm-symbolizer (root; ~12 min): BENCHMARKS.md.
bench:
	./bench/setup.sh
	$(MAKE) build
	./bench/run.sh

# --- Fuzzing (libFuzzer + ASan): FUZZ_SECONDS per target (FUZZ_RUNS to stop earlier).
# Crashing inputs land in Tests/Corpus/<target>/crash-*; the tests replay the corpus.
fuzz:
	PROFILER_AGENT_FUZZ=1 $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address \
		--scratch-path $(BUILD)/fuzz --product profiler-fuzz
	./scripts/fuzz.sh

# --- Churn soak: SOAK_SECONDS (300) of SOAK_RATE (2000/min) short-lived processes under `run`.
soak: build
	./bench/soak.sh

# --- The in-process unit tests under AddressSanitizer and ThreadSanitizer (root: AgentCoreTests
# load BPF). Not in CI: two more debug builds of every dependency take ~15 min on 2 cores.
# AgentTests are skipped: they drive the release binary, which no sanitizer instruments.
SANITIZED_TESTS := --skip AgentTests
check-sanitizers: bpf fixtures agent
	# Leak reports are off: XCTest on Linux keeps every test case object alive, and
	# LeakSanitizer reports those; memory errors (overflows, use after free) still fail.
	PROFILER_AGENT="$$PWD/$(BUILD)/release/profiler-agent" FIXTURES="$$PWD/$(FIX)" ASAN_OPTIONS=detect_leaks=0 \
		$(SWIFT) test --sanitize=address --scratch-path $(BUILD)/asan $(SANITIZED_TESTS)
	PROFILER_AGENT="$$PWD/$(BUILD)/release/profiler-agent" FIXTURES="$$PWD/$(FIX)" TSAN_OPTIONS=halt_on_error=1 \
		$(SWIFT) test --sanitize=thread --scratch-path $(BUILD)/tsan $(SANITIZED_TESTS)
