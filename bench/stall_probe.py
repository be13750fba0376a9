#!/usr/bin/env python3
"""Machine probe for the webhook benchmark's latency tail, with no daemon code involved.

Times a plain append + fdatasync loop (the journal's durable write, nothing else) twice:
alone, then while a loopback TCP ping-pong keeps the other CPU busy (the shape of a load
test on a 2-core machine). If the second run shows stalls on a regular grid that the first
does not, the tail comes from the machine (hypervisor CPU or I/O throttling), not from the
program under test. Loopback only; each phase is bounded by SECONDS.
Usage: bench/stall_probe.py [SECONDS]
"""

import os
import socket
import sys
import tempfile
import threading
import time
from multiprocessing import Process

STALL_MS = 4.0


def pong(listener):
    conn, _ = listener.accept()
    with conn:
        while True:
            data = conn.recv(64)
            if not data:
                return
            conn.sendall(data)


def ping(port, seconds):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.sendall(b"x" * 32)
            s.recv(64)


def fsync_loop(seconds):
    fd, path = tempfile.mkstemp(prefix="stall-probe-", dir=os.environ.get("TMPDIR", "/tmp"))
    lat = []
    stall_at = []
    try:
        end = time.monotonic() + seconds
        line = b"x" * 599 + b"\n"
        while time.monotonic() < end:
            os.write(fd, line)
            t = time.perf_counter()
            os.fdatasync(fd)
            took = (time.perf_counter() - t) * 1000.0
            lat.append(took)
            if took > STALL_MS:
                stall_at.append(t * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    gaps = sorted(b - a for a, b in zip(stall_at, stall_at[1:]))
    spacing = f"{gaps[len(gaps) // 2]:.0f}" if gaps else "n/a"
    return len(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1], len(stall_at), spacing


def loaded(seconds):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    server = threading.Thread(target=pong, args=(listener,), daemon=True)
    server.start()
    client = Process(target=ping, args=(listener.getsockname()[1], seconds + 0.5))
    client.start()
    try:
        return fsync_loop(seconds)
    finally:
        client.join(timeout=seconds + 5)
        if client.is_alive():
            client.terminate()
        listener.close()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    rows = [("alone", fsync_loop(seconds)), ("beside a loopback ping-pong", loaded(seconds))]
    print("## Machine probe: fdatasync latency alone and under load")
    print()
    print(f"Command: `bench/stall_probe.py {seconds:g}` (append 600 bytes + fdatasync in a loop, "
          f"{seconds:g} s per run; a stall is a call over {STALL_MS:g} ms)")
    print()
    print("| run | calls | p50 ms | p99 ms | max ms | stalls | median ms between stalls |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (n, p50, p99, top, stalls, spacing) in rows:
        print(f"| {name} | {n} | {p50:.2f} | {p99:.2f} | {top:.1f} | {stalls} | {spacing} |")
    print()
    print("Stalls that appear only in the loaded run belong to the machine, and they set a floor "
          "under every p99 above: wrk corrects for coordinated omission, so one stall of "
          "d ms at r requests/s per connection adds about d·r/1000 slow samples.")


if __name__ == "__main__":
    main()
