#!/usr/bin/env python3
"""A second load generator with another FTP client stack: Python's ftplib (not basic-ftp, not Node), for
cross-checking the ratios `npm run bench` reports (BENCHMARKS.md, "Cross-check with ftplib").

One session = the comparison table's shape: connect, USER/PASS, TYPE I, SIZE + PASV + RETR UPGRADE.TXT, read FILE: from it,
SIZE + PASV + RETR that binary, QUIT. A session fails when anything raises or the binary's size differs from SIZE.

    python3 bench/crosscheck/ftplib_load.py --port 2121 --user ota --password libelium -n 2000 -c 50 [--procs 2]

C sessions run at once: --procs processes (default: the number of CPUs) with C/procs threads each, so the client
is not held to one core by the GIL. Bounded: N sessions at most, and --duration-limit seconds (default 120).
Prints one JSON line: ok, failed, failures by reason, wall s, sessions/s, latency p50/p90/p99 ms.
Loopback only: --host must be a loopback address.
"""
import argparse
import ftplib
import ipaddress
import json
import multiprocessing as mp
import threading
import time
from collections import Counter


def session(host, port, user, password, timeout):
    t0 = time.perf_counter()
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=timeout)
    try:
        ftp.login(user, password)
        ftp.voidcmd('TYPE I')
        ftp.size('UPGRADE.TXT')
        chunks = []
        ftp.retrbinary('RETR UPGRADE.TXT', chunks.append)
        text = b''.join(chunks).decode('latin-1')
        name = next((l[5:].strip() for l in text.splitlines() if l.startswith('FILE:')), None)
        if not name or name == 'NO_FILE':
            raise RuntimeError('manifest names no binary')
        size = ftp.size(name)
        got = [0]

        def count(b):
            got[0] += len(b)
        ftp.retrbinary('RETR ' + name, count)
        if got[0] != size:
            raise RuntimeError('size mismatch')
        ftp.quit()
    finally:
        ftp.close()
    return (time.perf_counter() - t0) * 1000.0


def worker(args, quota, threads, deadline, out):
    lock = threading.Lock()
    left = [quota]
    lat, fails = [], Counter()

    def run():
        while time.time() < deadline:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                ms = session(args.host, args.port, args.user, args.password, args.timeout)
                with lock:
                    lat.append(ms)
            except Exception as e:  # noqa: BLE001 - every failure is counted by its reason
                with lock:
                    fails[(type(e).__name__ + ': ' + str(e))[:80]] += 1
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, dict(fails)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--user', default='ota')
    p.add_argument('--password', default='libelium')
    p.add_argument('-n', type=int, default=1000)
    p.add_argument('-c', type=int, default=10)
    p.add_argument('--procs', type=int, default=mp.cpu_count())
    p.add_argument('--timeout', type=float, default=30.0)
    p.add_argument('--duration-limit', type=float, default=120.0)
    a = p.parse_args()
    if not ipaddress.ip_address(a.host).is_loopback:
        p.error('--host must be a loopback address')
    procs = max(1, min(a.procs, a.c))
    deadline = time.time() + a.duration_limit
    out = mp.Queue()
    ps = []
    for i in range(procs):
        quota = a.n // procs + (1 if i < a.n % procs else 0)
        threads = a.c // procs + (1 if i < a.c % procs else 0)
        ps.append(mp.Process(target=worker, args=(a, quota, threads, deadline, out)))
    t0 = time.perf_counter()
    for x in ps:
        x.start()
    lat, fails = [], Counter()
    for _ in ps:
        l, f = out.get()
        lat += l
        fails.update(f)
    wall = time.perf_counter() - t0
    for x in ps:
        x.join()
    lat.sort()

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
    print(json.dumps({'n': a.n, 'c': a.c, 'ok': len(lat), 'failed': sum(fails.values()), 'failures': dict(fails),
                      'wall_s': round(wall, 3), 'sessions_per_s': round(len(lat) / wall, 1),
                      'p50_ms': pct(0.5), 'p90_ms': pct(0.9), 'p99_ms': pct(0.99)}))


if __name__ == '__main__':
    main()
