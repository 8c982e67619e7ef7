#!/usr/bin/env python3
"""Harness only: builds the unwinder's maps for one process from
`readelf --debug-dump=frames-interp` and /proc/PID/maps, reduced the way
bpf/unwind.h describes (de-duplicated rules, consecutive duplicate rows
dropped, INVALID rows at FDE ends that no FDE follows). Writes a text file
for harness.c:
  R cfa_kind fp_kind cfa_offset cfa_aux fp_offset   (rule, in index order)
  F file_id first_row row_count vaddr_base first_page page_count
  W pc_low rule                                     (row, in index order)
  G row                                             (page index entry, in index order)
  M start end bias file_id kind                     (mapping, sorted by start)
and prints what it did to stderr. The real tables come from the agent's parser."""
import re, subprocess, sys

CFA_INVALID, CFA_RSP, CFA_RBP, CFA_DEREF_RSP, CFA_DEREF_RBP, CFA_PLT, CFA_SIGNAL, CFA_STOP = range(8)
FP_UNCHANGED, FP_SAVED = 0, 1
MAP_TABLE, MAP_FP = 0, 1
import os
SHIFT = int(os.environ.get("UNWIND_PAGE_SHIFT") or re.search(r"#define UNWIND_PAGE_SHIFT (\d+)", open(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bpf/unwind.h")).read()).group(1))


def sections(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    res = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        res[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return res


def loads(path):
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    res = []
    for m in re.finditer(r"LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", out):
        res.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)))
    return res


def rule_of(cfa, ra, rbp, signal, in_plt):
    """(cfa_kind, fp_kind, cfa_offset, cfa_aux, fp_offset) or a kind name for stats."""
    if ra == "u":
        return (CFA_STOP, 0, 0, 0, 0)
    if signal:
        return (CFA_SIGNAL, 0, 0, 0, 0)
    fp_kind, fp_off = FP_UNCHANGED, 0
    if rbp and rbp.startswith("c"):
        fp_kind, fp_off = FP_SAVED, int(rbp[1:])
    m = re.fullmatch(r"(rsp|rbp)([+-]\d+)", cfa)
    if m:
        if ra not in ("c-8", None):
            return "ra-not-at-cfa-8"
        kind = CFA_RSP if m.group(1) == "rsp" else CFA_RBP
        return (kind, fp_kind, int(m.group(2)), 0, fp_off)
    if cfa == "exp" and in_plt:
        return (CFA_PLT, 0, 0, 11, 0)
    return "cfa-" + re.sub(r"[+-]\d+", "", cfa)


def file_rows(path, stats):
    secs = sections(path)
    plt = [secs[s] for s in (".plt", ".plt.sec") if s in secs]
    out = subprocess.run(["readelf", "--debug-dump=frames-interp", path], capture_output=True, text=True).stdout
    cies, fdes = {}, []
    cur = None
    for line in out.splitlines():
        m = re.match(r"([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE \"([^\"]*)\"", line)
        if m:
            cur = {"kind": "cie", "off": int(m.group(1), 16), "aug": m.group(2), "rows": [], "cols": None}
            cies[cur["off"]] = cur
            continue
        m = re.match(r"[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)", line)
        if m:
            cur = {"kind": "fde", "cie": int(m.group(1), 16), "lo": int(m.group(2), 16), "hi": int(m.group(3), 16),
                   "rows": [], "cols": None}
            fdes.append(cur)
            continue
        if cur is None:
            continue
        parts = line.split()
        if parts and parts[0] == "LOC":
            cur["cols"] = parts[1:]
            continue
        if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{16}", parts[0]) and cur["cols"]:
            cur["rows"].append((int(parts[0], 16), dict(zip(cur["cols"], parts[1:]))))
    rows = []  # (vaddr, rule or None)
    for f in sorted(fdes, key=lambda f: f["lo"]):
        cie = cies.get(f["cie"])
        signal = cie is not None and "S" in cie["aug"]
        table = f["rows"] or [(f["lo"], cie["rows"][0][1] if cie and cie["rows"] else {})]
        in_plt = any(a <= f["lo"] < a + n for a, n in plt)
        if rows and rows[-1][0] == f["lo"] and rows[-1][1] is None:
            rows.pop()  # the previous FDE's end marker: this one starts there
        for i, (loc, regs) in enumerate(table):
            loc = max(loc, f["lo"])
            r = rule_of(regs.get("CFA", "?"), regs.get("ra"), regs.get("rbp"), signal, in_plt)
            if isinstance(r, str):
                stats[r] = stats.get(r, 0) + 1
                r = (CFA_INVALID, 0, 0, 0, 0)
            else:
                stats["supported"] = stats.get("supported", 0) + 1
            if rows and rows[-1][0] == loc:
                rows[-1] = (loc, r)
            else:
                rows.append((loc, r))
        rows.append((f["hi"], None))
    # None -> INVALID; drop consecutive duplicates
    reduced = []
    for loc, r in rows:
        r = r or (CFA_INVALID, 0, 0, 0, 0)
        if reduced and reduced[-1][1] == r:
            continue
        reduced.append((loc, r))
    return reduced


def main():
    pid = int(sys.argv[1])
    out = open(sys.argv[2], "w")
    rules = {(CFA_INVALID, 0, 0, 0, 0): 0}
    files, rows, mappings, pages = {}, [], [], []
    stats = {}
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split()
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if "x" not in parts[1]:
            continue
        offset = int(parts[2], 16)
        path = parts[5] if len(parts) > 5 else ""
        if not path.startswith("/"):
            mappings.append((start, end, 0, 0, MAP_FP))
            continue
        if path not in files:
            r = file_rows(path, stats)
            first, first_page = len(rows), len(pages)
            base = (r[0][0] & ~((1 << SHIFT) - 1)) if r else 0
            for loc, rule in r:
                if rule not in rules:
                    rules[rule] = len(rules)
                rows.append((loc - base, rules[rule]))
            npages = ((r[-1][0] - base) >> SHIFT) + 1 if r else 0
            j = 0
            for page in range(npages):  # last row at or before the page start
                while j + 1 < len(r) and r[j + 1][0] - base <= page << SHIFT:
                    j += 1
                pages.append(j)
            files[path] = (len(files) + 1, first, len(r), base, first_page, npages)
            print(f"{path}: {len(r)} rows", file=sys.stderr)
        fid, first, count = files[path][:3]
        bias = 0
        for p_off, p_vaddr, p_filesz in loads(path):
            if p_off <= offset < p_off + max(p_filesz, 1):
                bias = start - (p_vaddr + (offset - p_off))
                break
        mappings.append((start, end, bias, fid, MAP_TABLE if count else MAP_FP))
    for rule, i in sorted(rules.items(), key=lambda kv: kv[1]):
        print("R %d %d %d %d %d" % rule, file=out)
    for path, (fid, first, count, base, first_page, npages) in files.items():
        print(f"F {fid} {first} {count} {base} {first_page} {npages}", file=out)
    for j in pages:
        print(f"G {j}", file=out)
    for loc, ri in rows:
        print(f"W {loc} {ri}", file=out)
    for m in sorted(mappings):
        print("M %d %d %d %d %d" % m, file=out)
    print(f"rules {len(rules)} rows {len(rows)} pages {len(pages)} mappings {len(mappings)} kinds {stats}", file=sys.stderr)


main()
