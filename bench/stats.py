#!/usr/bin/env python3
"""Small helpers for bench/run.sh.

  stats.py mmm V1 V2 ...            -> "min/median/max" of the values
  stats.py median V1 V2 ...         -> the median
  stats.py cpu PID                  -> user+sys CPU seconds of process PID (all its threads)
  stats.py bpf-ns                   -> total run_time_ns of every loaded BPF program (bpftool)
  stats.py map-bytes PID            -> memlock bytes of the BPF maps PID holds open (each map once)
  stats.py rss PID                  -> resident set size in bytes
  stats.py stale PID                -> JSON {map: [entries, entries of exited threads]} of the per-thread /
                                       per-process maps PID holds (keys start with a tid or pid)
  stats.py addresses LIB N OUT      -> N addresses inside LIB's functions (seeded), one per line
  stats.py same A B                 -> share of identical names: our lines vs llvm-symbolizer JSON lines
  stats.py perf-split FILE          -> share of burn_three_quarters among the two burn_* functions (perf report)
  stats.py folded-split FILE        -> the same from folded stacks
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time


def fmt(v):
    return f"{v:.4g}"


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "mmm":
        values = [float(a) for a in args]
        print(f"{fmt(min(values))}/{fmt(statistics.median(values))}/{fmt(max(values))}")
    elif cmd == "median":
        print(fmt(statistics.median(float(a) for a in args)))
    elif cmd == "cpu":
        with open(f"/proc/{args[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        print((int(fields[11]) + int(fields[12])) / ticks)  # utime, stime
    elif cmd == "bpf-ns":
        out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True).stdout or "[]"
        print(sum(p.get("run_time_ns", 0) for p in json.loads(out)))
    elif cmd == "metric":
        # The value of the sample args[1] (name{labels} exactly) on the agent's /metrics at port args[0].
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{args[0]}/metrics", timeout=30).read().decode()
        print(next((line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(args[1] + " ")), "0"))
    elif cmd == "map-bytes":
        # Several fds may refer to one map (maps shared between BPF objects): count each map once.
        sizes = {}
        fd_dir = f"/proc/{args[0]}/fdinfo"
        for fd in os.listdir(fd_dir):
            try:
                text = open(f"{fd_dir}/{fd}").read()
            except OSError:
                continue
            if "map_type:" in text:
                fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
                sizes[fields.get("map_id", fd).strip()] = int(fields.get("memlock", "0").strip())
        print(sum(sizes.values()))
    elif cmd == "rss":
        with open(f"/proc/{args[0]}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    print(int(line.split()[1]) * 1024)
    elif cmd == "addresses":
        lib, n, out = args[0], int(args[1]), args[2]
        nm = subprocess.run(["nm", "--defined-only", "-S", lib], capture_output=True, text=True).stdout
        functions = []
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2] in "tTwW" and int(parts[1], 16) > 0:
                functions.append((int(parts[0], 16), int(parts[1], 16)))
        rng = random.Random(42)
        with open(out, "w") as f:
            for _ in range(n):
                start, size = rng.choice(functions)
                f.write("0x%x\n" % (start + rng.randrange(size)))
    elif cmd == "same":
        ours = open(args[0]).read().split("\n")
        theirs = [json.loads(line)["Symbol"][0]["FunctionName"] or "??" for line in open(args[1])]
        same = sum(1 for a, b in zip(ours, theirs) if a == b)
        print(f"{100.0 * same / max(len(theirs), 1):.4f}")
    elif cmd == "perf-split":
        out = subprocess.run(["perf", "report", "-i", args[0], "--no-children", "--sort", "symbol", "--stdio", "-q", "-g", "none"],
                             capture_output=True, text=True).stdout
        share = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0].endswith("%") and parts[2] in ("burn_three_quarters", "burn_one_quarter"):
                share[parts[2]] = share.get(parts[2], 0.0) + float(parts[0].rstrip("%"))
        three, one = share.get("burn_three_quarters", 0.0), share.get("burn_one_quarter", 0.0)
        print(f"{100.0 * three / max(three + one, 1e-9):.2f}")
    elif cmd == "folded-split":
        three = one = 0
        for line in open(args[0]):
            stack, _, count = line.rstrip("\n").rpartition(" ")
            leaf = stack.split(";")[-1]
            if leaf == "burn_three_quarters":
                three += int(count)
            elif leaf == "burn_one_quarter":
                one += int(count)
        print(f"{100.0 * three / max(three + one, 1):.2f}")
    elif cmd == "stale":
        print(json.dumps(stale_entries(int(args[0])), sort_keys=True))
    else:
        sys.exit(f"unknown command {cmd}")


# Maps keyed by a thread or process id (first 4 key bytes), by name (BPF keeps 15 characters).
PER_THREAD_MAPS = ("syscall_spans", "event_spans", "pending_calls", "offcpu_starts", "syscall_process")


def stale_entries(pid, interval=2.5):
    """Entries of exited threads/processes that outlive the agent's cleanup: present
    in two dumps `interval` seconds apart (the per-process map is drained every
    second; per-thread maps are cleaned when a thread exits). Returns
    {map: [entries, stale]}. This checker's own bpftool runs are left out."""
    mine = set()

    def bpftool(*args):
        process = subprocess.Popen(["bpftool", "-j", *args], stdout=subprocess.PIPE, text=True)
        mine.add(process.pid)
        return json.loads(process.communicate()[0] or "null")

    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("map_id:"):
                ids.add(int(line.split(":")[1]))
    maps = {}
    for map_id in sorted(ids):
        name = (bpftool("map", "show", "id", str(map_id)) or {}).get("name", "")
        if name.startswith(PER_THREAD_MAPS):
            maps[map_id] = name

    def dump():
        keys = {}
        for map_id in maps:
            keys[map_id] = {tuple(entry["key"]) for entry in bpftool("map", "dump", "id", str(map_id)) or []}
        return keys

    first = dump()
    time.sleep(interval)
    second = dump()
    result = {}
    for map_id, name in maps.items():
        stale = 0
        for key in first[map_id] & second[map_id]:
            owner = int.from_bytes(bytes(int(b, 16) for b in key[:4]), "little")
            if owner not in mine and not os.path.exists(f"/proc/{owner}"):
                stale += 1
        total = result.setdefault(name, [0, 0])
        total[0] += len(second[map_id])
        total[1] += stale
    return result

if __name__ == "__main__":
    main()
