#!/usr/bin/env python3
"""Write latency and throughput of the default 3x3 cluster through its load balancer (issue 8).

A benchmark, not a test: it prints figures next to their goals. What it measures,
each as median, min and max over --runs runs (3; JSON in bench/results/<UTC time>.json):

* idle cluster: CPU of all nodes together as % of one core (goal < 5 %) and RSS per
  node (goal < 60 MB), from /proc/<pid>/stat and /proc/<pid>/status of each node
  container's process tree (`docker inspect -f {{.State.Pid}}` plus its descendants),
  not the container's cgroup, whose memory.current also counts page cache;
* one client: write latency p50 (goal < 30 ms), p90, p99;
* eight clients (threads, 8 x 25/s offered): acknowledged writes/s (goal >= 150),
  p50, p99 (goal < 250 ms), errors by class;
* read-your-write: every Nth acknowledged create is read back with q.get through
  another client (its own connection); misses must be 0.

Every write is `q.create(q.ref(q.collection("bench"), ID), ...)` with an id the client
chose, through the `faunadb` driver and nginx (the inventory's faunadb_lb_publish_*).
Each client sends request i at start + i/rate, never early (late: at once), and stops
after a number of requests or at its deadline, whichever comes first. Before the load
it prints the client's own ceiling (the same driver and threads against a stub server
on loopback), so errors and a missed rate are known to come from the cluster.

    .venv/bin/python bench/double_load.py                     # full mode (make bench)
    .venv/bin/python bench/double_load.py --smoke --teardown  # a few seconds (make test)

When the load balancer does not answer /ping it first runs `ansible-playbook -i
inventory/local.yml site.yml` (-e: extra vars for it; --no-provision: stop instead);
--teardown removes a cluster it provisioned itself. Exit status 0 whether or not a
goal is met (goals apply to the median); 2 when the measurement could not be made
(cluster unreachable, or a load phase with no acknowledged write).
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import ceiling as ceiling_mod
import requests
from benchlib import (
    ROOT,
    Cluster,
    Table,
    fmt,
    lb_answers,
    machine,
    make_client,
    module_util,
    pct,
    playbook,
    read_inventory,
    save,
    teardown,
    utc_stamp,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the driver warns about FQL v4 on import
    from faunadb import query as q
    from faunadb.client import FaunaClient
    from faunadb.errors import BadRequest, FaunaError, NotFound

COLLECTION = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

GOAL_P50_ONE_MS = 30.0
GOAL_RATE_EIGHT = 150.0
GOAL_P99_EIGHT_MS = 250.0
GOAL_IDLE_CPU_PCT = 5.0
GOAL_RSS_MB = 60.0

# -- load ---------------------------------------------------------------------------


@dataclass
class Write:
    due: float
    sent: float
    done: float
    outcome: str  # ok, unavailable, timeout, duplicate, other
    detail: str = ""

    @property
    def ms(self) -> float:
        return (self.done - self.sent) * 1000


def classify(exc: Exception) -> tuple[str, str]:
    """(outcome, detail) of a failed create, as the chaos workload classifies one."""
    return module_util("faunadb_workload_client").classify(
        module_util("faunadb_workload_stats").WRITE, exc)


@dataclass
class Verifier:
    """Reads back acknowledged creates through its own client and connection."""

    client: FaunaClient
    todo: queue.Queue = field(default_factory=queue.Queue)
    checked: int = 0
    misses: list = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    lag_ms: list = field(default_factory=list)  # acknowledgement -> read sent

    def run(self, writers_done: threading.Event, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                doc_id, value, acked = self.todo.get(timeout=0.1)
            except queue.Empty:
                if writers_done.is_set():
                    return
                continue
            self.lag_ms.append((time.monotonic() - acked) * 1000)
            try:
                doc = self.client.query(q.get(q.ref(q.collection(COLLECTION), doc_id)))
            except NotFound:
                self.misses.append(doc_id)
            except (FaunaError, requests.exceptions.RequestException) as exc:
                self.errors[classify(exc)[0]] += 1
            else:
                if doc["data"] != value:
                    self.misses.append(doc_id)
            self.checked += 1


def run_phase(target, key, *, clients: int, rate: float, seconds: float, max_requests: int,
              verify_every: int, timeout: float, tag: str) -> dict:
    """`clients` threads, each at `rate` writes/s, staggered evenly; bounded in requests
    and in time (seconds, plus at most one request's timeout for the last answer)."""
    writers = [make_client(target, key, timeout) for _ in range(clients)]
    verifier = Verifier(make_client(target, key, timeout))
    results: list[list[Write]] = [[] for _ in range(clients)]
    writers_done = threading.Event()
    t0 = time.monotonic() + 0.2  # every thread started before the first request is due
    deadline = t0 + seconds

    def loop(cid: int) -> None:
        client, mine = writers[cid], results[cid]
        offset = cid / (rate * clients)
        for i in range(max_requests):
            due = t0 + offset + i / rate
            if due >= deadline:
                break
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now >= deadline:  # so late that the phase is over
                break
            doc_id = f"{tag}{cid:02d}{i:06d}"
            value = {"client": cid, "i": i}
            sent = time.monotonic()
            try:
                client.query(q.create(q.ref(q.collection(COLLECTION), doc_id), {"data": value}))
            except (FaunaError, requests.exceptions.RequestException) as exc:
                mine.append(Write(due, sent, time.monotonic(), *classify(exc)))
                continue
            acked = time.monotonic()
            mine.append(Write(due, sent, acked, "ok"))
            if verify_every and (i + cid) % verify_every == 0:
                verifier.todo.put((doc_id, value, acked))

    cpu0 = time.process_time()
    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in range(clients)]
    checker = threading.Thread(target=verifier.run,
                               args=(writers_done, deadline + 2 * timeout + 5), daemon=True)
    checker.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + timeout + 5)
    end = time.monotonic()
    writers_done.set()
    checker.join(timeout=2 * timeout + 10)
    cpu = time.process_time() - cpu0

    writes = [w for r in results for w in r]
    ok = [w.ms for w in writes if w.outcome == "ok"]
    outcomes = Counter(w.outcome for w in writes)
    details = Counter(w.detail for w in writes if w.detail)
    late = [(w.sent - w.due) * 1000 for w in writes]
    wall = end - t0
    return {
        "clients": clients, "offered_per_s": rate * clients, "sent": len(writes),
        "wall_s": wall, "acked_per_s": len(ok) / wall if wall > 0 else 0.0,
        "p50_ms": pct(ok, 50), "p90_ms": pct(ok, 90), "p99_ms": pct(ok, 99),
        "max_ms": max(ok, default=None), "over_1s": sum(1 for ms in ok if ms > 1000),
        "outcomes": {k: outcomes.get(k, 0)
                     for k in ("ok", "unavailable", "timeout", "duplicate", "other")},
        "error_details": dict(details.most_common(5)),
        "sent_late_ms_p50": pct(late, 50), "sent_late_ms_max": max(late, default=None),
        "client_cpu_ms_per_write": 1000 * cpu / max(len(writes), 1),
        "ryw_checked": verifier.checked, "ryw_misses": len(verifier.misses),
        "ryw_missed_ids": verifier.misses[:10], "ryw_read_errors": dict(verifier.errors),
        "ryw_lag_ms_p50": pct(verifier.lag_ms, 50), "ryw_lag_ms_max": max(verifier.lag_ms,
                                                                          default=None),
    }


# -- idle -----------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue  # exited meanwhile
    return pids


def ticks(pid: int) -> tuple[int, int] | None:
    """(start time, CPU ticks incl. reaped children) of pid; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime stime cutime cstime: children that exited count in their parent.
    return int(f[19]), sum(int(x) for x in f[11:15])


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0  # kernel threads have no VmRSS; a gone process holds nothing


def container_pids(names: list[str]) -> dict[str, int]:
    out = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}", *names],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    pids = {n.lstrip("/"): int(p) for n, p in (line.split() for line in out.splitlines())}
    stopped = [n for n, p in pids.items() if p == 0]
    if stopped:
        raise RuntimeError(f"containers not running: {', '.join(stopped)}")
    return pids


def idle(nodes: list[str], seconds: float) -> dict:
    mains = container_pids(nodes)
    before = {p: ticks(p) for m in mains.values() for p in process_tree(m)}
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    used = 0
    rss = {}
    for name, main in mains.items():
        tree = process_tree(main)
        rss[name] = sum(rss_mb(p) for p in tree)
        for p in tree:
            now, then = ticks(p), before.get(p)
            if now is None:
                continue
            used += now[1] - (then[1] if then and then[0] == now[0] else 0)
    return {"cpu_pct": 100.0 * used / CLK_TCK / elapsed, "rss_mb": rss,
            "rss_max_mb": max(rss.values())}


# -- report ----------------------------------------------------------------------------


def report(runs: list[dict], args) -> list[dict]:
    one = [r["one"] for r in runs]
    eight = [r["eight"] for r in runs]
    offered = args.clients * args.rate
    nodes = len(runs[0]["idle"]["rss_mb"])
    table = Table(f"write latency and throughput through the load balancer ({len(runs)} run(s))")
    table.row(f"idle CPU, all {nodes} nodes (% of one core)", [r["idle"]["cpu_pct"] for r in runs],
              f"< {GOAL_IDLE_CPU_PCT:g} %", lambda v: v < GOAL_IDLE_CPU_PCT, "%")
    table.row("idle RSS, largest node", [r["idle"]["rss_max_mb"] for r in runs],
              f"< {GOAL_RSS_MB:g} MB", lambda v: v < GOAL_RSS_MB, "MB")
    table.row(f"1 client @ {args.rate_one:g}/s: p50", [r["p50_ms"] for r in one],
              f"< {GOAL_P50_ONE_MS:g} ms", lambda v: v < GOAL_P50_ONE_MS, "ms")
    table.row("1 client: p90", [r["p90_ms"] for r in one], unit="ms")
    table.row("1 client: p99", [r["p99_ms"] for r in one], unit="ms")
    table.row("1 client: acknowledged writes/s", [r["acked_per_s"] for r in one])
    table.row(f"{args.clients} clients @ {offered:g}/s: acked writes/s",
              [r["acked_per_s"] for r in eight], f">= {GOAL_RATE_EIGHT:g}/s",
              lambda v: v >= GOAL_RATE_EIGHT)
    table.row(f"{args.clients} clients: p50", [r["p50_ms"] for r in eight], unit="ms")
    table.row(f"{args.clients} clients: p99", [r["p99_ms"] for r in eight],
              f"< {GOAL_P99_EIGHT_MS:g} ms", lambda v: v < GOAL_P99_EIGHT_MS, "ms")
    table.row(f"{args.clients} clients: max", [r["max_ms"] for r in eight], unit="ms")
    # One request in flight per client: after a stall it sends back to back and
    # catches up slowly, so a missed rate shows here first.
    table.row(f"{args.clients} clients: behind schedule, p50",
              [r["sent_late_ms_p50"] for r in eight], unit="ms")
    table.row(f"{args.clients} clients: client CPU per write",
              [r["client_cpu_ms_per_write"] for r in eight], unit="ms")
    checked = sum(r["ryw_checked"] for r in one + eight)
    table.row("read-your-write misses",
              [r["one"]["ryw_misses"] + r["eight"]["ryw_misses"] for r in runs], "0",
              lambda v: v == 0 and checked > 0, checked=checked)

    totals = Counter()
    for r in one + eight:
        totals.update(r["outcomes"])
    read_errors = Counter()
    for r in one + eight:
        read_errors.update(r["ryw_read_errors"])
    print("\nwrites by outcome, all runs: 1 client "
          + ", ".join(f"{k} {sum(r['outcomes'][k] for r in one)}" for k in totals)
          + f"; {args.clients} clients "
          + ", ".join(f"{k} {sum(r['outcomes'][k] for r in eight)}" for k in totals))
    print(f"acknowledged writes slower than 1 s: 1 client {sum(r['over_1s'] for r in one)}, "
          f"{args.clients} clients {sum(r['over_1s'] for r in eight)}")
    details = Counter()
    for r in one + eight:
        details.update(r["error_details"])
    for detail, n in details.most_common(5):
        print(f"  {n} x {detail[:160]}")
    print(f"read-your-write: {checked} acknowledged creates read back through another client"
          + (f", read errors {dict(read_errors)}" if read_errors else ""))
    return table.rows


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="one short run with small counts (make test)")
    parser.add_argument("-i", "--inventory", default="inventory/local.yml")
    parser.add_argument("--no-provision", action="store_true",
                        help="stop when the load balancer does not answer instead of running "
                             "site.yml")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="passed on to site.yml when this run provisions (repeatable)")
    parser.add_argument("--teardown", action="store_true",
                        help="remove the cluster at the end if this run provisioned it")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--seconds", type=float, help="length of each load phase")
    parser.add_argument("--idle", type=float, help="seconds of idle sampling")
    parser.add_argument("--rate-one", type=float, default=20.0,
                        help="writes/s offered by the single client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=25.0,
                        help="writes/s offered by each of the clients")
    parser.add_argument("--verify-every", type=int,
                        help="read back every Nth acknowledged create")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.smoke else 3)
    args.seconds = args.seconds or (3.0 if args.smoke else 10.0)
    args.idle = args.idle or (3.0 if args.smoke else 10.0)
    args.verify_every = args.verify_every or (2 if args.smoke else 4)
    return args


def main() -> int:
    args = options()
    os.chdir(ROOT)
    started = time.monotonic()
    cluster = read_inventory(args.inventory)
    provisioned = False
    try:
        if not lb_answers(cluster.lb):
            if args.no_provision:
                print(f"load balancer {cluster.lb[0]}:{cluster.lb[1]} does not answer /ping "
                      "and --no-provision was given", file=sys.stderr)
                return 2
            print(f"load balancer {cluster.lb[0]}:{cluster.lb[1]} does not answer: "
                  f"ansible-playbook -i {args.inventory} site.yml", flush=True)
            provisioned = True
            extra = [a for v in args.extra_vars for a in ("-e", v)]
            run = playbook(args.inventory, "site.yml", *extra)
            print(f"provisioned in {run.seconds:.0f} s", flush=True)
            if not run.ok or not lb_answers(cluster.lb):
                print(run.output[-4000:], file=sys.stderr)
                print("provisioning failed: nothing measured", file=sys.stderr)
                return 2
        ceiling = ceiling_mod.measure(1, 1.0 if args.smoke else 2.0, args.clients)
        result = measure(cluster, args)
        if result is None:
            return 2
        stamp = utc_stamp()
        path = save({"mode": "smoke" if args.smoke else "full", "utc": stamp,
                     "machine": machine(), "args": vars(args), "ceiling": ceiling, **result},
                    stamp)
        print(f"\nJSON: {path.relative_to(ROOT)}")
        return 0 if result["measured"] else 2
    finally:
        if provisioned and args.teardown:
            run = teardown(args.inventory, cluster.name)
            print(f"teardown {'done' if run.ok else 'FAILED'} in {run.seconds:.0f} s")
            if not run.ok:
                print(run.output[-4000:], file=sys.stderr)
        print(f"total {time.monotonic() - started:.0f} s")


def measure(cluster: Cluster, args) -> dict | None:
    """The load figures on a running cluster; None when not even the collection could be
    made, "measured" false when a load phase had no acknowledged write."""
    key = cluster.key_file.read_text().strip()
    lb = cluster.lb
    admin = make_client(lb, key, args.timeout)
    try:
        admin.query(q.create_collection({"name": COLLECTION}))
    except BadRequest as exc:
        if not any(e.code == "instance already exists" for e in exc.errors):
            raise
    except (FaunaError, requests.exceptions.RequestException) as exc:
        print(f"cannot create the collection through {lb[0]}:{lb[1]}: {exc}", file=sys.stderr)
        return None

    mode = "smoke" if args.smoke else "full"
    print(f"{mode} mode: {args.runs} run(s) against {cluster.name} through {lb[0]}:{lb[1]} "
          f"({len(cluster.nodes)} nodes); phases of {args.seconds:g} s, idle {args.idle:g} s, "
          f"1 in {args.verify_every} creates read back", flush=True)
    # Ids unique across runs and invocations (numeric, as FaunaDB wants document ids).
    nonce = int(time.time()) % 10**8
    runs = []
    for n in range(args.runs):
        time.sleep(1.0 if args.smoke else 3.0)  # let the previous load's work settle
        idle_figures = idle(cluster.nodes, args.idle)
        common = {"seconds": args.seconds, "verify_every": args.verify_every,
                  "timeout": args.timeout}
        one = run_phase(lb, key, clients=1, rate=args.rate_one,
                        max_requests=int(args.rate_one * args.seconds) + 1,
                        tag=f"{nonce}{n}1", **common)
        eight = run_phase(lb, key, clients=args.clients, rate=args.rate,
                          max_requests=int(args.rate * args.seconds) + 1,
                          tag=f"{nonce}{n}8", **common)
        runs.append({"idle": idle_figures, "one": one, "eight": eight})
        print(f"run {n + 1}: idle CPU {idle_figures['cpu_pct']:.1f} %, "
              f"max RSS {idle_figures['rss_max_mb']:.1f} MB; 1 client p50 "
              f"{fmt(one['p50_ms'])} ms, {one['acked_per_s']:.1f}/s; {args.clients} clients "
              f"{eight['acked_per_s']:.1f}/s, p99 {fmt(eight['p99_ms'])} ms, "
              f"{eight['outcomes']}", flush=True)

    rows = report(runs, args)
    acked = [r[p]["outcomes"]["ok"] for r in runs for p in ("one", "eight")]
    if not all(acked):
        print("a phase had no acknowledged write: the measurement could not be made",
              file=sys.stderr)
    return {"cluster": cluster.name, "lb": f"{lb[0]}:{lb[1]}", "nodes": cluster.nodes,
            "rows": rows, "runs": runs, "measured": all(acked)}


if __name__ == "__main__":
    sys.exit(main())
