#!/usr/bin/env python3
"""Harness only: symbolises harness.c's output with addr2line -f and reports
the share of samples whose outermost frame is _start / clone3, the depth, and
the most frequent stacks; with a `gdb -batch -ex bt` output, compares the
most frequent stack with it frame for frame (gdb stops at main unless told
otherwise; the stack must not change between the two).
  symbolize.py MAPS_COPY STACKS [TOP [GDB_BT]]"""
import collections, re, subprocess, sys

EXACT = 1 << 63


def load_maps(path):
    maps = []
    for line in open(path):
        p = line.split()
        s, e = (int(x, 16) for x in p[0].split("-"))
        maps.append((s, e, int(p[2], 16), p[5] if len(p) > 5 else ""))
    return maps


def pt_loads(path, cache={}):
    if path not in cache:
        out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
        cache[path] = [(int(a, 16), int(b, 16), int(c, 16)) for a, b, c in
                       re.findall(r"LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", out)]
    return cache[path]


def main():
    maps = load_maps(sys.argv[1])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    stacks = []
    for line in open(sys.argv[2]):
        p = line.split()
        count, flags, depth = int(p[0]), int(p[1], 16), int(p[2])
        stacks.append((count, flags, [int(x, 16) for x in p[3:3 + depth]]))
    where = {}  # addr -> (path, vaddr)
    per_file = collections.defaultdict(set)
    def lookup_addr(frames, i):
        f = frames[i]
        # exact pcs as is; return addresses at ra - 1, except the signal
        # trampoline's (__restore_rt, right before an exact, signal-restored pc):
        # its FDE starts one byte early, but its symbol does not.
        if f & EXACT or (i + 1 < len(frames) and frames[i + 1] & EXACT):
            return f & ~EXACT
        return f - 1

    for _, _, frames in stacks:
        for i, f in enumerate(frames):
            a = lookup_addr(frames, i)
            f = (f, a)
            for s, e, off, path in maps:
                if s <= a < e and path.startswith("/"):
                    for p_off, p_vaddr, p_filesz in pt_loads(path):
                        if p_off <= off < p_off + max(p_filesz, 1):
                            v = a - s + off - p_off + p_vaddr
                            where[f] = (path, v)
                            per_file[path].add(v)
                            break
                    break
    names = {}
    for path, vs in per_file.items():
        vs = sorted(vs)
        out = subprocess.run(["addr2line", "-f", "-e", path] + ["%x" % v for v in vs],
                             capture_output=True, text=True).stdout.splitlines()
        for i, v in enumerate(vs):
            names[(path, v)] = out[2 * i] if 2 * i < len(out) else "??"

    def sym(frames, i):
        f = (frames[i], lookup_addr(frames, i))
        w = where.get(f)
        if not w:
            return "[unknown %x]" % (f[0] & ~EXACT)
        n = names.get(w, "??")
        return n if n != "??" else "[%s+%x]" % (w[0].rsplit("/", 1)[-1], w[1])

    total = sum(c for c, _, _ in stacks)
    roots = collections.Counter()
    depths = []
    chains = collections.Counter()
    for count, flags, frames in stacks:
        chain = tuple(sym(frames, i) for i in range(len(frames)))
        roots[chain[-1] if chain else "-"] += count
        depths += [len(frames)] * count
        chains[chain] += count
    depths.sort()
    reach = sum(c for r, c in roots.items() if r in ("_start", "clone3", "__clone3"))
    print(f"samples {total}; outermost _start/clone3: {reach} = {100.0 * reach / max(total, 1):.1f}%")
    print("depth min %d p50 %d max %d" % (depths[0], depths[len(depths) // 2], depths[-1]) if depths else "no stacks")
    print("outermost frames:", dict(roots.most_common(6)))
    for chain, c in chains.most_common(top):
        print(f"{c:6d}  " + " <- ".join(chain))
    if len(sys.argv) > 4 and stacks:
        found = {}  # gdb prints frame #0 again when switching threads: first of each
        for n, addr, func in re.findall(r"^#(\d+)\s+(?:0x([0-9a-f]+) in )?(\S+)", open(sys.argv[4]).read(), re.M):
            found.setdefault(int(n), (n, addr, func))
        gdb = [found[n] for n in sorted(found)]
        count, flags, frames = max(stacks, key=lambda s: s[0])
        ok = len(frames) >= len(gdb)
        for n, addr, func in gdb:
            n = int(n)
            if n >= len(frames):
                ok = False
                break
            mine = frames[n] & ~EXACT
            name = sym(frames, n)
            if func == "<signal":  # gdb's "<signal handler called>": the trampoline, before an exact pc
                same = n + 1 < len(frames) and bool(frames[n + 1] & EXACT)
            elif not addr or n == 0:  # the leaf moves; no address at a line start: compare names
                same = name == func
            else:
                same = int(addr, 16) == mine
            ok = ok and same
            print(f"  #{n:<3} gdb {addr or '-':>16} {func:<32} agent {mine:16x} {name:<32} {'ok' if same else 'DIFFERENT'}")
        print("vs gdb: " + ("IDENTICAL" if ok else "DIFFERENT") +
              f" ({len(gdb)} gdb frames; the agent goes on to {len(frames)})")


main()
