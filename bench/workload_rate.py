#!/usr/bin/env python3
"""What rate the chaos workload sustains on a cluster (issue 20): the default it picks.

A benchmark, not a test. The chaos workload itself (the faunadb_workload module, open
loop, through the load balancer, as roles/chaos/tasks/workload.yml starts it) is run at
each rate of --rates for --seconds, --runs times, on an idle cluster; per rate it prints
median, min and max of: requests sent / due (%), acknowledged writes / writes sent (%),
p99 of the successful requests, the most in flight at once, and how late the dispatcher
sent them (p99). A rate is sustained when every run sent >= 99 % of what was due and
acknowledged >= 99.5 % of its writes; chaos_workload_rate's default sits below the highest
sustained rate.

    .venv/bin/python bench/workload_rate.py                           # inventory/local.yml, 3x3
    .venv/bin/python bench/workload_rate.py --rates 10,50 --runs 1    # quicker

The cluster must be up (make run); nothing is provisioned or torn down. Every run writes
into its own collection (bench_rate_<rate>_<run>). Exit status 2 when a run could not be
made.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from benchlib import BIN, ROOT, Table, lb_answers, machine, read_inventory, save, utc_stamp


def run_once(cluster, rate: float, seconds: float, collection: str, workdir: str) -> dict:
    args = {"action": "run", "url": f"http://{cluster.lb[0]}:{cluster.lb[1]}",
            "secret_file": str(cluster.key_file), "collection": collection, "rate": rate,
            "duration": seconds, "max_requests": int(rate * seconds) + 1,
            "request_timeout": 10, "ping_interval": 0,
            "journal": os.path.join(workdir, f"{collection}.json")}
    env = dict(os.environ, ANSIBLE_LIBRARY=str(ROOT / "library"),
               ANSIBLE_MODULE_UTILS=str(ROOT / "module_utils"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={BIN / 'python'}",
         "-m", "faunadb_workload", "-a", json.dumps(args)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False)
    try:
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise RuntimeError(f"faunadb_workload gave no result:\n{proc.stdout[-2000:]}"
                           f"\n{proc.stderr[-2000:]}") from None
    if result.get("failed"):
        raise RuntimeError(f"faunadb_workload failed: {result.get('msg')}")
    with open(args["journal"], encoding="utf-8") as fh:
        journal = json.load(fh)
    w = journal["summary"]
    late = sorted(r.get("late_ms") or 0.0 for r in journal["requests"])
    return {
        "sent_pct": round(100.0 * w["requests"] / w["planned"], 2) if w["planned"] else None,
        "acked_pct": round(100.0 * w["acked_writes"] / w["writes"], 2) if w["writes"] else None,
        "p99_ms": w["latency_ms"]["p99"], "threads": w.get("threads"),
        "late_p99_ms": late[int(0.99 * (len(late) - 1))] if late else None,
    }


def options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", default="inventory/local.yml")
    parser.add_argument("--rates", default="10,25,50,100,200",
                        help="requests/s, comma-separated (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = options(argv)
    os.chdir(ROOT)
    cluster = read_inventory(args.inventory)
    if not lb_answers(cluster.lb):
        print(f"{cluster.lb[0]}:{cluster.lb[1]} does not answer /ping: run `make run` first",
              file=sys.stderr)
        return 2
    rates = [float(r) for r in args.rates.split(",")]
    table = Table(f"chaos workload on {args.inventory} ({len(cluster.nodes)} nodes, "
                  f"{args.seconds:g} s a run, {args.runs} runs)")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-rate-") as workdir:
        for rate in rates:
            runs = []
            for i in range(args.runs):
                try:
                    runs.append(run_once(cluster, rate, args.seconds,
                                         f"bench_rate_{int(rate)}_{i}", workdir))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"rate {rate:g}/s run {i + 1}: {exc}", file=sys.stderr)
                    return 2
            figures[rate] = runs
            sustained = all((r["sent_pct"] or 0) >= 99 and (r["acked_pct"] or 0) >= 99.5
                            for r in runs)
            table.row(f"{rate:g}/s: sent / due", [r["sent_pct"] for r in runs], unit="%")
            table.row(f"{rate:g}/s: acked / writes", [r["acked_pct"] for r in runs], unit="%",
                      goal="sustained" if sustained else "NOT sustained")
            table.row(f"{rate:g}/s: p99", [r["p99_ms"] for r in runs], unit="ms")
            table.row(f"{rate:g}/s: dispatch late p99", [r["late_p99_ms"] for r in runs],
                      unit="ms")
            table.row(f"{rate:g}/s: threads", [r["threads"] for r in runs])
    path = save({"utc": utc_stamp(), "machine": machine(), "args": vars(args),
                 "system_under_test": args.inventory, "rates": figures}, None)
    print(f"\nJSON: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
