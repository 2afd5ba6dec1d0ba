#!/usr/bin/env python3
"""Failover through the load balancer at a fixed rate (issue "Benchmarks", failover figures).

A benchmark, not a test: it prints figures next to their goals. For each scenario it runs
the chaos playbook (chaos/kill_node.yml: SIGKILL the seed node; chaos/pause_node.yml:
freeze it; chaos/kill_replica.yml: SIGKILL every node of replica2) --runs times in a row
and reads each run's journal.json. Each figure is the median, min and max over the runs:

* requests sent by the chaos workload (faunadb_workload through nginx, --rate requests/s
  from 8 clients, 80 % writes with client-chosen ids, 20 % reads, each request given
  chaos_workload_request_timeout = 10 s), from chaos_lead_seconds before the fault until
  25 s after it, so the heal is inside the run;
* failed requests: the workload's `failed` (a definite failure: 503 unavailable,
  connection refused, a duplicate, a stale read, a read that timed out, anything else)
  plus `indeterminate` (a write with no definite answer: client timeout, 502/504 from
  nginx, 503 "time out", connection lost after sending), and that as % of requests sent;
  requests the open-loop workload could not send because its in-flight bound was reached
  (never sent) are shown apart;
* duplicates (a create answered "instance already exists" for an id sent once) and lost
  writes (acknowledged, missing when read back after the heal);
* p99 latency of the successful requests only (a request that timed out is not in it),
  over the whole run and over the fault's own window; the slowest request of any outcome
  (from workload.json), where a request that waited out its timeout does show;
* failed write pings (/ping?scope=write through nginx every second);
* heal seconds: the journal's heal.seconds, from the start of the heal (roles/chaos/tasks/
  heal.yml sets the fault's end as its first step, then heals the targets) until FaunaDB's
  own status has every node up and live with no data movement, followed by a write ping
  through the load balancer; polled once a second, Ansible's task overhead included.

Goals, judged on the median: kill_node 0 failed; 0 duplicates in every scenario;
kill_replica <= 0.5 % failed; heal < 15 s for a node (killed or paused), < 30 s for a
replica. pause_node has no failure goal: its figures are measured and shown.

    .venv/bin/python bench/failover.py -i inventory/local.yml            # 3 scenarios x 3 runs
    .venv/bin/python bench/failover.py -i inventory/small.yml --smoke    # kill_node once, short
    .venv/bin/python bench/failover.py --report bench/results/failover-<UTC time>/  # reprint

The role's verdict does not stop the play (chaos_verdict_fails_play=false): a missed
expectation stays in the journal and is measured here, not a failed playbook. The evidence
goes to
bench/results/failover-<UTC time>/ (git-ignored; each run's folder also keeps the
playbook's output, playbook.log) and the figures to
bench/results/<UTC time>.json. Exit status 0 whether or not a goal is met; 2 when a run
could not be measured (the playbook failed outright, no journal, or the run stopped at a
step before its fault was measured).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchlib import RESULTS, ROOT, Table, fmt, machine, playbook, read_inventory, save, utc_stamp

RATE = 10.0  # the chaos role's default rate: requests/s, all clients together
GOAL_REPLICA_FAILED_PCT = 0.5

# scenario -> playbook, goal on failed requests (% of sent; None: measured only), heal goal
SCENARIOS = {
    "kill_node": ("chaos/kill_node.yml", 0.0, 15.0),
    "pause_node": ("chaos/pause_node.yml", None, 15.0),
    "kill_replica": ("chaos/kill_replica.yml", GOAL_REPLICA_FAILED_PCT, 30.0),
}

# The whole run is bounded by the role (steady state 2 x 90 s, heal 240 s, verify 60 s,
# workload <= 50 s with the defaults); this only catches a playbook that hangs anyway.
PLAYBOOK_TIMEOUT = 1200


def overrides(reports: Path, rate: float, smoke: bool) -> dict:
    extra = {"chaos_reports_dir": str(reports), "chaos_workload_rate": rate,
             "chaos_verdict_fails_play": False}
    if smoke:
        # Long enough to see the node go and come back on the fast 3x1 double, no more;
        # testinfra is left out: it checks the fault, not the client's figures.
        extra.update(chaos_fault_seconds=5, chaos_lead_seconds=2, chaos_workload_seconds=17,
                     chaos_testinfra=False)
    return extra


def journal_figures(path: Path) -> dict:
    """One run's raw figures from its journal.json."""
    j = json.loads(path.read_text())
    w, heal, fault = j.get("workload") or {}, j.get("heal") or {}, j.get("fault") or {}
    requests = int(w.get("requests") or 0)
    failed = int(w.get("failed") or 0) + int(w.get("indeterminate") or 0)
    pings = w.get("pings") or {}
    windows = [{k: win.get(k) for k in ("name", "requests", "ok", "failed", "indeterminate",
                                       "write_success_pct", "pings", "pings_failed",
                                       "lost_writes")}
               | {"p99_ms": (win.get("latency_ms") or {}).get("p99")}
               for win in w.get("windows") or []]
    # The workload's p99 counts successful requests only; a request that timed out shows
    # only here, in the per-request journal beside journal.json.
    slowest = None
    requests_file = path.parent / str(w.get("journal") or "workload.json")
    if requests_file.is_file():
        slowest = max((r.get("latency_ms") or 0.0
                       for r in json.loads(requests_file.read_text()).get("requests") or []),
                      default=None)
    # The fault's own stretch: every window but the ones the role puts around the phases.
    during = [win for win in windows
              if win["name"] not in ("before the fault", "heal", "after the heal")]
    return {
        "journal": str(path),
        "verdict": j.get("verdict"),
        "error": j.get("error"),
        "missed": [e["name"] for e in j.get("expectations") or [] if not e.get("met")],
        "targets": j.get("targets"),
        "fault_seconds": fault.get("seconds"),
        "requests": requests,
        "planned": w.get("planned"),
        "skipped": w.get("skipped"),
        "ok": w.get("ok"),
        "failed_definite": w.get("failed"),
        "indeterminate": w.get("indeterminate"),
        "failed": failed,
        "failed_pct": 100.0 * failed / requests if requests else None,
        "outcomes": w.get("outcomes"),
        "acked_writes": w.get("acked_writes"),
        "duplicate_writes": w.get("duplicate_writes"),
        "lost_writes": w.get("lost_writes"),
        "stale_reads": w.get("stale_reads"),
        "p50_ms": (w.get("latency_ms") or {}).get("p50"),
        "p99_ms": (w.get("latency_ms") or {}).get("p99"),
        "max_ms": (w.get("latency_ms") or {}).get("max"),
        "slowest_any_ms": slowest,
        "fault_p99_ms": max((win["p99_ms"] for win in during if win["p99_ms"] is not None),
                            default=None),
        "pings_sent": pings.get("sent"),
        "pings_failed": pings.get("failed"),
        "pings_failed_t": pings.get("failed_t"),
        "heal_ok": heal.get("ok") in (True, "True", "true"),
        "heal_seconds": float(heal["seconds"]) if heal.get("seconds") not in (None, "") else None,
        "heal_detail": heal.get("detail"),
        "heal_start_epoch": heal.get("start_epoch"),
        "heal_end_epoch": heal.get("end_epoch"),
        "windows": windows,
    }


def new_journals(reports: Path, before: set[Path], scenario: str) -> list[Path]:
    found = {p for p in reports.glob(f"*-{scenario}/journal.json")}
    return sorted(found - before)


def unlock_and_heal(inventory: str, reports: Path) -> str:
    """After a playbook that died or hung: undo any fault and drop its lock, so the next
    run starts on a whole cluster instead of failing its steady state."""
    try:
        run = playbook(inventory, "playbooks/heal.yml", "-e",
                       json.dumps({"chaos_reports_dir": str(reports)}), timeout=600)
        return "healed" if run.ok else "heal.yml failed: " + run.output[-300:]
    except subprocess.TimeoutExpired:
        return "heal.yml timed out"


def one_run(inventory: str, scenario: str, reports: Path, extra: dict) -> dict:
    book = SCENARIOS[scenario][0]
    before = set(reports.glob(f"*-{scenario}/journal.json"))
    start = time.monotonic()
    try:
        run = playbook(inventory, book, "-e", json.dumps(extra), timeout=PLAYBOOK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"{book} still running after {PLAYBOOK_TIMEOUT} s; "
                         + unlock_and_heal(inventory, reports),
                "playbook_seconds": time.monotonic() - start}
    journals = new_journals(reports, before, scenario)
    # The journal keeps the heal's ends, not which wait took the time; the log does.
    log = (journals[-1].parent / "playbook.log" if journals
           else reports / f"{utc_stamp()}-{scenario}.playbook.log")
    log.write_text(run.output)
    if not run.ok or not journals:
        tail = "\n".join(run.output.strip().splitlines()[-15:])
        why = "failed" if not run.ok else "wrote no journal.json"
        out = {"error": f"{book} {why} (log: {log}):\n{tail}", "playbook_seconds": run.seconds}
        if journals:
            out |= {"partial": journal_figures(journals[-1])}
        out["recovery"] = unlock_and_heal(inventory, reports)
        return out
    figures = journal_figures(journals[-1]) | {"playbook_seconds": run.seconds}
    if figures["error"]:
        # The role caught a failed step (steady state, fault, probe...) and healed: the
        # figures do not describe the scenario as planned.
        figures["error"] = f"the run stopped at a step: {figures['error']}"
    return figures


def report(results: dict[str, list[dict]], rate: float) -> Table:
    table = Table(f"failover through the load balancer at {rate:g} requests/s "
                  "(median, min, max over the runs measured)")
    for scenario, runs in results.items():
        _, goal_failed, goal_heal = SCENARIOS[scenario]
        ok = [r for r in runs if not r.get("error")]
        n = f"{scenario} ({len(ok)}/{len(runs)} runs)"

        def col(key: str, rows=ok) -> list:
            return [r.get(key) for r in rows]

        table.row(f"{n}: requests sent", col("requests"), scenario=scenario)
        table.row(f"{scenario}: not sent (in-flight bound)", col("skipped"),
                  scenario=scenario)
        if goal_failed == 0:
            table.row(f"{scenario}: failed + indeterminate", col("failed"), "0",
                      lambda v: v == 0, scenario=scenario)
            table.row(f"{scenario}: failed as % of sent", col("failed_pct"), unit=" %",
                      scenario=scenario)
        elif goal_failed is not None:
            table.row(f"{scenario}: failed + indeterminate", col("failed"),
                      scenario=scenario)
            table.row(f"{scenario}: failed as % of sent", col("failed_pct"),
                      f"<= {goal_failed:g} %", lambda v, g=goal_failed: v <= g, unit=" %",
                      scenario=scenario)
        else:
            table.row(f"{scenario}: failed + indeterminate", col("failed"), "measured",
                      scenario=scenario)
            table.row(f"{scenario}: failed as % of sent", col("failed_pct"), "measured",
                      unit=" %", scenario=scenario)
        table.row(f"{scenario}:   of which indeterminate", col("indeterminate"),
                  scenario=scenario)
        table.row(f"{scenario}: duplicate writes", col("duplicate_writes"), "0",
                  lambda v: v == 0, scenario=scenario)
        table.row(f"{scenario}: lost writes", col("lost_writes"), "0", lambda v: v == 0,
                  scenario=scenario)
        table.row(f"{scenario}: p99 of successful requests", col("p99_ms"), unit=" ms",
                  scenario=scenario)
        table.row(f"{scenario}: p99 of successful, fault window", col("fault_p99_ms"),
                  unit=" ms", scenario=scenario)
        table.row(f"{scenario}: max of successful requests", col("max_ms"), unit=" ms",
                  scenario=scenario)
        table.row(f"{scenario}: slowest request, any outcome", col("slowest_any_ms"),
                  unit=" ms", scenario=scenario)
        table.row(f"{scenario}: failed write pings", col("pings_failed"), scenario=scenario)
        # A heal that never completed has no seconds: it must not vanish from the median.
        heal = [r["heal_seconds"] if r.get("heal_ok") else float("inf") for r in ok]
        table.row(f"{scenario}: heal, to up+live and write ping", heal,
                  f"< {goal_heal:g} s", lambda v, g=goal_heal: v < g, unit=" s",
                  scenario=scenario)
    return table


def measure(inventory: str, runs: int, smoke: bool, *, rate: float = RATE,
            scenarios: list[str] | None = None, stamp: str | None = None) -> dict:
    stamp = stamp or utc_stamp()
    scenarios = scenarios or (["kill_node"] if smoke else list(SCENARIOS))
    runs = 1 if smoke else runs
    reports = RESULTS / f"failover-{stamp}"
    reports.mkdir(parents=True, exist_ok=True)
    extra = overrides(reports, rate, smoke)
    results: dict[str, list[dict]] = {}
    for scenario in scenarios:
        results[scenario] = []
        for n in range(runs):
            print(f"{scenario} run {n + 1}/{runs}: {SCENARIOS[scenario][0]} ...", flush=True)
            fig = one_run(inventory, scenario, reports, extra)
            results[scenario].append(fig)
            if fig.get("error"):
                print(f"  NOT MEASURED: {fig['error']}", flush=True)
            else:
                missed = f" (missed: {', '.join(fig['missed'])})" if fig["missed"] else ""
                print(f"  {fig['requests']} sent, {fig['failed']} failed "
                      f"({fig['indeterminate']} indeterminate), {fig['skipped']} not sent, "
                      f"{fig['duplicate_writes']} duplicates, {fig['lost_writes']} lost, "
                      f"p99 {fmt(fig['p99_ms'])} ms, pings failed {fig['pings_failed']}/"
                      f"{fig['pings_sent']}, heal {fmt(fig['heal_seconds'])} s, verdict "
                      f"{fig['verdict']}{missed}; "
                      f"playbook {fig['playbook_seconds']:.0f} s", flush=True)
    table = report(results, rate)
    measured = all(not fig.get("error") for figs in results.values() for fig in figs)
    return {"rows": table.rows, "runs": results, "reports": str(reports), "rate": rate,
            "overrides": extra, "measured": measured}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", default="inventory/local.yml")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (3)")
    parser.add_argument("--smoke", action="store_true",
                        help="kill_node once with a 5 s fault and a 17 s workload")
    parser.add_argument("--rate", type=float, default=RATE,
                        help=f"workload requests/s through the load balancer ({RATE:g})")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="only these scenarios (repeatable; default: all, smoke: kill_node)")
    parser.add_argument("--report", metavar="DIR",
                        help="only print the figures of the journals already in DIR "
                             "(a bench/results/failover-* folder); runs nothing")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.report:
        results: dict[str, list[dict]] = {}
        for path in sorted(Path(args.report).glob("*/journal.json")):
            scenario = path.parent.name.split("-", 1)[1]
            if scenario in SCENARIOS:
                results.setdefault(scenario, []).append(journal_figures(path))
        report(results, args.rate)
        return 0

    started = time.monotonic()
    stamp = utc_stamp()
    cluster = read_inventory(args.inventory)
    mode = "smoke" if args.smoke else "full"
    print(f"{mode} mode against {cluster.name} ({len(cluster.nodes)} nodes) through "
          f"{cluster.lb[0]}:{cluster.lb[1]}", flush=True)
    result = measure(args.inventory, args.runs, args.smoke, rate=args.rate,
                     scenarios=args.scenario, stamp=stamp)
    took = time.monotonic() - started
    path = save({"benchmark": "failover", "mode": mode, "utc": stamp,
                 "inventory": args.inventory, "cluster": cluster.name,
                 "lb": f"{cluster.lb[0]}:{cluster.lb[1]}", "nodes": cluster.nodes,
                 "machine": machine(), "seconds": round(took, 1), **result}, stamp)
    print(f"\nevidence: {Path(result['reports']).relative_to(ROOT)}/; "
          f"JSON: {path.relative_to(ROOT)}; total {took:.0f} s")
    unmeasured = [f"{s} run {i + 1}" for s, rs in result["runs"].items()
                  for i, r in enumerate(rs) if r.get("error")]
    if unmeasured:
        print(f"not measured: {', '.join(unmeasured)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
