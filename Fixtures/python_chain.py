"""A Python program with known stacks, for the interpreter-frame tests.

    python_chain.py single SECONDS
        main -> handle_request -> parse -> hot_loop (3 requests of 4)
                                        -> cold_loop (1 of 4), the same work each
    python_chain.py mixed SECONDS
        the single chain, and after each request main -> idle -> nap, which
        sleeps 2 ms (off-CPU)
    python_chain.py threads SECONDS
        4 threads, each spinning in its own chain: thread_a -> spin_a, ...,
        thread_d -> spin_d (the main thread waits in join)
    python_chain.py crowd SECONDS
        200 idle threads (started after the main thread, so listed before it
        in the interpreter's thread list), then the single chain on the main
        thread
    python_chain.py resolve COUNT PREFIX
        after 2 s, resolve_names -> lookup -> socket.getaddrinfo of
        PREFIX0.profiler.test ... (the DNS exemplar test), then 1.5 s idle

Plain functions only, so every sample's Python stack is known exactly.
"""
import socket
import sys
import threading
import time

WORK = 20000


def hot_loop(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def cold_loop(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def parse(k):
    if k % 4 == 3:
        return cold_loop(WORK)
    return hot_loop(WORK)


def handle_request(k):
    return parse(k)


def main(seconds):
    deadline = time.monotonic() + seconds
    k = 0
    while time.monotonic() < deadline:
        handle_request(k)
        k += 1


def nap():
    time.sleep(0.002)


def idle():
    nap()


def mixed(seconds):
    deadline = time.monotonic() + seconds
    k = 0
    while time.monotonic() < deadline:
        handle_request(k)
        idle()
        k += 1


def spin(seconds):
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        for i in range(WORK):
            total += i * i
    return total


def spin_a(seconds):
    return spin(seconds)


def spin_b(seconds):
    return spin(seconds)


def spin_c(seconds):
    return spin(seconds)


def spin_d(seconds):
    return spin(seconds)


def thread_a(seconds):
    spin_a(seconds)


def thread_b(seconds):
    spin_b(seconds)


def thread_c(seconds):
    spin_c(seconds)


def thread_d(seconds):
    spin_d(seconds)


def threads(seconds):
    workers = [threading.Thread(target=f, args=(seconds,), name=f.__name__)
               for f in (thread_a, thread_b, thread_c, thread_d)]
    for worker in workers:
        worker.start()
    # Each thread's native id, for the test to match samples to chains.
    print(" ".join(f"{w.name}={w.native_id}" for w in workers), flush=True)
    for worker in workers:
        worker.join()


def crowd(seconds):
    stop = threading.Event()
    idle = [threading.Thread(target=stop.wait, daemon=True) for _ in range(200)]
    for thread in idle:
        thread.start()
    main(seconds)
    stop.set()


def lookup(name):
    try:
        socket.getaddrinfo(name, None)
        return 0
    except socket.gaierror as error:
        return error.errno


def resolve_names(count, prefix):
    time.sleep(2)  # the agent probes the libc of a process it has just seen
    for i in range(count):
        print(f"{prefix}{i}.profiler.test {lookup(f'{prefix}{i}.profiler.test')}", flush=True)
    time.sleep(1.5)


if __name__ == "__main__":
    if sys.argv[1] == "resolve":
        resolve_names(int(sys.argv[2]), sys.argv[3])
    else:
        seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
        {"single": main, "mixed": mixed, "threads": threads, "crowd": crowd}[sys.argv[1]](seconds)
