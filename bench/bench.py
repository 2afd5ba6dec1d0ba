#!/usr/bin/env python3
"""Every benchmark in one run (make bench): one table, one JSON in bench/results/.

    .venv/bin/python bench/bench.py            # full: 3x3 (bench/inventory.yml), 3 runs each
    .venv/bin/python bench/bench.py --smoke    # make test: 3x1 (bench/inventory_small.yml), 1 run

In order, on the same machine and in the same run (so ratios compare like with like):

1. the clients' own ceilings against a stub (bench/ceiling.py);
2. cold provisioning, site.yml against the tutorial's way by hand (bench/tutorial.sh),
   and the warm re-run of site.yml (bench/provision.py); this leaves the cluster up;
3. write latency and throughput through the load balancer (bench/double_load.py);
4. failover under a fixed-rate workload: a node killed, a node paused, a replica killed
   (bench/failover.py, through the chaos playbooks);
5. (full mode only, once the clusters above are gone) a real FaunaDB release against the
   double on the same 3x1: site.yml cold, warm and --check, idle CPU and RSS, one
   faunadb-admin call (bench/real.py; skipped, saying so, without a release).

The benchmark's own clusters (cluster names bench and benchsmall, their own networks and
ports) never touch the one `make run` starts; they are removed at the end (--keep leaves
them). Goals are printed next to the medians, never enforced: the exit status is 2 only
when something could not be measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import ceiling
import double_load
import failover
import provision
import real
from benchlib import (
    FULL_INVENTORY,
    ROOT,
    SMOKE_INVENTORY,
    machine,
    markdown,
    mode_defaults,
    read_inventory,
    save,
    teardown,
    utc_stamp,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short run of each, on a 3x1")
    parser.add_argument("-i", "--inventory", help=f"default {FULL_INVENTORY} ({SMOKE_INVENTORY} "
                        "with --smoke)")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3, smoke 1)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the summary as a Markdown table")
    args = parser.parse_args()
    inventory, runs = mode_defaults(args.inventory, args.runs, args.smoke)
    os.chdir(ROOT)
    stamp = utc_stamp()
    started = time.monotonic()
    cluster = read_inventory(inventory)
    sections: dict[str, dict] = {}
    measured = True
    try:
        sections["ceiling"] = ceiling.measure(runs, 1.0 if args.smoke else 2.0, clients=8)
        sections["provision"] = prov = provision.measure(inventory, runs, args.smoke, [])
        if not prov.get("measured", True):
            return 2
        load_args = double_load.options((["--smoke"] if args.smoke else [])
                                        + ["-i", inventory, "--runs", str(runs)])
        load = double_load.measure(cluster, load_args)
        if load is None:
            return 2
        sections["load"] = load
        measured = load["measured"]
        sections["failover"] = fail = failover.measure(inventory, runs, args.smoke)
        measured = measured and fail.get("measured", True)
    finally:
        if not args.keep:
            down = teardown(inventory, cluster.name)
            print(f"\nteardown of {cluster.name} {'done' if down.ok else 'FAILED'} "
                  f"in {down.seconds:.0f} s")
        if not args.smoke and measured and "failover" in sections:
            sections["real"] = real.measure(runs, real.default_release())
            measured = sections["real"]["measured"]
        took = time.monotonic() - started
        rows = [dict(r, section=name) for name, s in sections.items() for r in s["rows"]]
        doc = {"mode": "smoke" if args.smoke else "full", "utc": stamp, "runs": runs,
               "inventory": inventory, "cluster": cluster.name, "machine": machine(),
               "seconds": round(took, 1), "summary": rows, "sections": sections}
        path = save(doc, stamp)
        summary(rows, args.markdown)
        print(f"\nJSON: {path.relative_to(ROOT)}; {took / 60:.1f} min in all")
    return 0 if measured else 2


def summary(rows: list[dict], as_markdown: bool) -> None:
    """The figures that carry a goal, again, after all the detail."""
    judged = [r for r in rows if r["goal"]]
    missed = [r["figure"] for r in judged if r["verdict"] == "MISS"]
    print(f"\nsummary: {len(judged)} figures with a goal, "
          f"{sum(r['verdict'] == 'pass' for r in judged)} met"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    if as_markdown:
        print("\n" + markdown(rows))


if __name__ == "__main__":
    sys.exit(main())
