#!/usr/bin/env python3
"""The clients' own ceilings: writes/s each client drives against a stub that answers at once.

Two clients measure the cluster: the `faunadb` driver loop of bench/double_load.py and
the chaos workload (module_utils/faunadb_workload.py, what every chaos run and the
failover benchmark count with). Each is run unpaced against a stub HTTP server on
loopback, in its own process so it does not share the client's GIL. A client whose
ceiling is far above the rate a benchmark offers cannot be what misses that rate or
fails requests: those come from the cluster.

    .venv/bin/python bench/ceiling.py [--seconds 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter

from benchlib import Table, make_client, module_util

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the driver warns about FQL v4 on import
    from faunadb import query as q

faunadb_workload = module_util("faunadb_workload")
faunadb_workload_client = module_util("faunadb_workload_client")

# Every POST (a create, the only request either client sends here) gets a create's answer.
STUB = r"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = (b'{"resource":{"ref":{"@ref":{"id":"1","collection":{"@ref":{"id":"bench",'
        b'"collection":{"@ref":{"id":"collections"}}}}}},"ts":1,"data":{}}}')
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"""


class Stub:
    def __enter__(self) -> int:
        self.proc = subprocess.Popen([sys.executable, "-c", STUB], stdout=subprocess.PIPE,
                                     text=True)
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def driver_ceiling(clients: int, seconds: float) -> dict:
    """Writes/s of `clients` threads of bench/double_load.py's driver loop, unpaced."""
    with Stub() as port:
        done = Counter()
        cpu0, t0 = time.process_time(), time.monotonic()
        deadline = t0 + seconds

        def loop(cid: int) -> None:
            client = make_client(("127.0.0.1", port), "stub", 5.0)
            i = 0
            while time.monotonic() < deadline:
                client.query(q.create(q.ref(q.collection("bench"), str(i)), {"data": {}}))
                i += 1
            done[cid] = i

        threads = [threading.Thread(target=loop, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 10)
        elapsed = time.monotonic() - t0
        total = sum(done.values())
        return {"writes_per_s": total / elapsed,
                "client_cpu_ms_per_write": 1000 * (time.process_time() - cpu0) / max(total, 1)}


def workload_ceiling(clients: int, seconds: float) -> dict:
    """Requests/s the chaos workload (faunadb_workload.Workload) drives, writes only,
    offered far more than it can send; pings off."""
    with Stub() as port:
        connect = faunadb_workload_client.session_factory(f"http://127.0.0.1:{port}", "stub",
                                                          "bench", 5.0)
        offered = 20000.0
        work = faunadb_workload.Workload(
            connect, run_id="1", rate=offered, duration=seconds,
            max_requests=int(offered * seconds), max_in_flight=clients, read_ratio=0.0,
            request_timeout=5.0, ping_interval=0)
        cpu0 = time.process_time()
        summary, records = work.run()
        cpu = time.process_time() - cpu0
        ok = sum(1 for r in records if r["outcome"] == "ok")
        elapsed = max(r["t"] + r["latency_ms"] / 1000 for r in records) if records else seconds
        return {"requests_per_s": ok / elapsed, "requests": len(records), "ok": ok,
                "client_cpu_ms_per_request": 1000 * cpu / max(len(records), 1)}


def measure(runs: int, seconds: float, clients: int) -> dict:
    """Both ceilings `runs` times; the table rows and the raw figures."""
    raw = []
    for _ in range(runs):
        raw.append({"driver": driver_ceiling(clients, seconds),
                    "workload": workload_ceiling(clients, seconds)})
    table = Table(f"clients' own ceilings ({clients} threads, unpaced, against a stub on "
                  "loopback)")
    table.row("load client (driver): writes/s", [r["driver"]["writes_per_s"] for r in raw])
    table.row("load client: client CPU per write", [r["driver"]["client_cpu_ms_per_write"]
                                                    for r in raw], unit="ms")
    table.row("chaos workload: requests/s", [r["workload"]["requests_per_s"] for r in raw])
    table.row("chaos workload: client CPU per request",
              [r["workload"]["client_cpu_ms_per_request"] for r in raw], unit="ms")
    return {"rows": table.rows, "runs": raw}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    measure(args.runs, args.seconds, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
