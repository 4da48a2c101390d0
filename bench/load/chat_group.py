#!/usr/bin/env python3
"""Chat across reactors: server CPU per delivered line, one reactor against two.

    bench/load/chat_group.py [ROUNDS] [MEMBERS] [LINES]

Starts `chat --threads T` (T = 1, 2) on a fresh loopback port, joins MEMBERS
members to one room, and has every member send LINES lines at once (in
batches of 50, never more than 200 unanswered per member so nobody is cut
for not reading); every other member must receive each of them. Reports the
server's CPU time (from /proc/PID/stat) per delivered line and lines
delivered per second, medians over ROUNDS, interleaved. With two reactors
the kernel spreads the members; the room's owner is one of the two, so
about half the members receive each line through one message from the
owner to the other reactor, and about half the senders reach the owner
through one message.
"""
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

CHAT = "target/release/examples/chat"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(threads, members, lines):
    port = free_port()
    server = subprocess.Popen([CHAT, "--threads", str(threads), "--listen", f"127.0.0.1:{port}"],
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        socks = []
        # One join at a time (across reactors, joins sent at once may reach
        # the room's owner in another order): each member then expects
        # success, then the joins of those after it.
        got = []
        for i in range(members):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(f"u{i} bench\n".encode())
            socks.append(s)
            got.append(b"")
            while not got[i].startswith(b"success\n"):
                got[i] += s.recv(65536)
        for i, s in enumerate(socks):
            while got[i].count(b"\n") < 1 + (members - 1 - i):
                got[i] += s.recv(65536)
        for s in socks:
            s.setblocking(False)
        expected = lines * (members - 1)
        received = [0] * members
        sent = [0] * members
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, i)
        cpu0, t0 = cpu_seconds(server.pid), time.time()
        pending = [b""] * members
        while min(received) < expected:
            if time.time() - t0 > 120:
                raise RuntimeError(f"timed out: received {received} of {expected}")
            for key, mask in sel.select(timeout=5):
                i, s = key.data, key.fileobj
                if mask & selectors.EVENT_READ:
                    data = s.recv(1 << 20)
                    if not data:
                        raise RuntimeError(f"member {i} was closed")
                    received[i] += data.count(b"\n")
                if mask & selectors.EVENT_WRITE:
                    if not pending[i] and sent[i] < lines and sent[i] - min(received) // (members - 1) < 200:
                        n = min(50, lines - sent[i])
                        pending[i] = b"".join(b"x%d\n" % (sent[i] + k) for k in range(n))
                        sent[i] += n
                    if pending[i]:
                        try:
                            w = s.send(pending[i])
                            pending[i] = pending[i][w:]
                        except BlockingIOError:
                            pass
                    if sent[i] >= lines and not pending[i]:
                        sel.modify(s, selectors.EVENT_READ, i)
        elapsed, cpu = time.time() - t0, cpu_seconds(server.pid) - cpu0
        delivered = expected * members
        for s in socks:
            s.close()
        return cpu * 1e6 / delivered, delivered / elapsed
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    results = {1: [], 2: []}
    for r in range(rounds):
        for threads in (1, 2):
            results[threads].append(run(threads, members, lines))
            print(f"round {r + 1} threads={threads}: {results[threads][-1]}", file=sys.stderr)
    print("| reactors | members | lines each | rounds | server CPU-µs per delivered line | delivered lines/s |")
    print("|---|---|---|---|---|---|")
    for threads, rs in results.items():
        print(f"| {threads} | {members} | {lines} | {len(rs)} | {statistics.median(r[0] for r in rs):.3f} | "
              f"{statistics.median(r[1] for r in rs):,.0f} |")


if __name__ == "__main__":
    main()
