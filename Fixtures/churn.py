#!/usr/bin/env python3
"""Process churn for soak and eviction tests: starts RATE short-lived processes
per minute (churn_child: DNS lookup, syscalls, a few ms of CPU, 10 ms asleep)
for SECONDS. Every 20th process runs a fresh copy of the binary (a new inode:
the agent's binary cache must turn over too); copies are deleted after exit.
Prints "started N" at the end.
Usage: churn.py CHURN_CHILD SCRATCH_DIR SECONDS [RATE_PER_MINUTE]"""
import os
import shutil
import subprocess
import sys
import time

child, scratch, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 2000
os.makedirs(scratch, exist_ok=True)
interval = 60.0 / rate
running = []  # (process, copy path or None)
started = 0
begin = time.monotonic()
while time.monotonic() - begin < seconds:
    path = None
    if started % 20 == 19:
        path = os.path.join(scratch, f"churn_child_{started}")
        shutil.copyfile(child, path)
        os.chmod(path, 0o755)
    running.append((subprocess.Popen([path or child], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
    started += 1
    still = []
    for process, copy in running:
        if process.poll() is None:
            still.append((process, copy))
        elif copy:
            os.unlink(copy)
    running = still
    next_start = begin + started * interval
    time.sleep(max(0.0, next_start - time.monotonic()))
for process, copy in running:
    process.wait()
    if copy:
        os.unlink(copy)
print(f"started {started}", flush=True)
