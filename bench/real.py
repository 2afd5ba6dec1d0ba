#!/usr/bin/env python3
"""A real FaunaDB release against the test double, on the same 3x1 (inventory/real.yml).

A benchmark, not a test: it prints figures. Each run, for each system in turn (which goes
first alternates from run to run), on a cluster of its own that exists only for the run:

* site.yml cold (images present, no containers), warm (its changed count) and --check;
* the idle cluster: CPU of all 3 nodes' processes over 20 s (% of one core) and the RSS of
  the largest node, from /proc;
* one `faunadb-admin status` through `docker exec` on the seed, 3 times (each a JVM start
  on the real build, the double's simulated start-up cost on the double).

The real system is the image `make image` builds of --release (default: FAUNADB_RELEASE,
else ../shared/faunadb/faunadb-*.tar.gz); the double is faunalab/faunadb-double:1.0.0 with
its real timings (nothing shortened), the node settings of inventory/real.yml for both.
Figures: median, min and max per system, and the ratio real / double of the medians. No
goals: these say what the real build costs on this machine, next to what the tests of the
double measure. JSON: bench/results/.

    .venv/bin/python bench/real.py               # 3 runs each
    .venv/bin/python bench/real.py --smoke       # 1 run each
    .venv/bin/python bench/real.py --only real -e faunadb_node_cpus=0.5   # another sizing
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, Table, machine, playbook, read_inventory, save, teardown, utc_stamp
from double_load import idle

sys.path.insert(0, str(ROOT / "tests" / "faunadb_double"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from playbook_kit import derive_inventory  # noqa: E402

REAL_IMAGE = "faunalab/faunadb:benchreal"
DOUBLE_IMAGE = "faunalab/faunadb-double:1.0.0"
SYSTEMS = {  # name -> (cluster, host prefix, subnet, load balancer port)
    "real": ("benchreal", "br_", "172.29.62", 18462),
    "double": ("benchdouble", "bd_", "172.29.63", 18463),
}
IDLE_SECONDS = 20
ADMIN_CALLS = 3


def default_release() -> str | None:
    if os.environ.get("FAUNADB_RELEASE"):
        return os.environ["FAUNADB_RELEASE"]
    found = sorted((ROOT.parent / "shared" / "faunadb").glob("faunadb-*.tar.gz"))
    return str(found[-1]) if found else None


def build_image(release: str) -> None:
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "image",
                           f"FAUNADB_RELEASE={Path(release).resolve()}",
                           f"FAUNADB_IMAGE={REAL_IMAGE}"],
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"make image failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def admin_seconds(node: str, key: str) -> list[float]:
    """One `faunadb-admin status` on the node, ADMIN_CALLS times (the key by environment)."""
    argv = ["docker", "exec", "-e", "FAUNADB_CONFIG=/etc/faunadb/faunadb.yml", "-e",
            "FAUNADB_ROOT_KEY", node, "/opt/faunadb/bin/faunadb-admin", "status"]
    took = []
    for _ in range(ADMIN_CALLS):
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                              env=dict(os.environ, FAUNADB_ROOT_KEY=key))
        if proc.returncode != 0:
            raise RuntimeError(f"faunadb-admin status on {node} failed: {proc.stdout[-500:]}")
        took.append(time.monotonic() - start)
    return took


def one_run(inventory: str, extra: list[str]) -> dict:
    cluster = read_inventory(inventory)
    teardown(inventory, cluster.name)
    try:
        cold = playbook(inventory, "site.yml", *extra)
        if not cold.ok:
            raise RuntimeError(f"site.yml cold failed:\n{cold.output[-3000:]}")
        warm = playbook(inventory, "site.yml", *extra)
        check = playbook(inventory, "site.yml", "--check", *extra)
        if not (warm.ok and check.ok):
            raise RuntimeError("site.yml warm or --check failed:\n"
                               f"{(warm.output if not warm.ok else check.output)[-3000:]}")
        quiet = idle(cluster.nodes, IDLE_SECONDS)
        admin = admin_seconds(cluster.nodes[0], cluster.key_file.read_text().strip())
    finally:
        teardown(inventory, cluster.name)
    return {"cold": cold.seconds, "warm": warm.seconds, "warm_changed": warm.changed,
            "check": check.seconds, "check_changed": check.changed,
            "idle_cpu_pct": quiet["cpu_pct"], "idle_rss_max_mb": quiet["rss_max_mb"],
            "idle_rss_mb": quiet["rss_mb"], "admin_s": admin}


def report(results: dict[str, list[dict]]) -> list[dict]:
    table = Table("a real release and the test double, 3x1 each (inventory/real.yml settings)")
    figures = [("site.yml cold", "cold", "s"), ("site.yml warm", "warm", "s"),
               ("site.yml --check", "check", "s"),
               ("warm and --check: changed", lambda r: r["warm_changed"] + r["check_changed"],
                ""),
               ("idle CPU, 3 nodes (% of one core)", "idle_cpu_pct", "%"),
               ("idle RSS, largest node", "idle_rss_max_mb", "MB"),
               ("faunadb-admin status, one call", lambda r: statistics.median(r["admin_s"]),
                "s")]
    rows = []
    for label, key, unit in figures:
        get = key if callable(key) else (lambda r, k=key: r[k])
        medians = {}
        for system, runs in results.items():
            row = table.row(f"{label}, {system}", [get(r) for r in runs], unit=unit)
            rows.append(row)
            medians[system] = row["median"]
        if medians.get("double") and medians.get("real") is not None:
            rows.append(table.row(f"{label}, real / double",
                                  [medians["real"] / medians["double"]], unit="x"))
    return rows


def measure(runs: int, release: str | None, systems: tuple[str, ...] = tuple(SYSTEMS),
            extra_vars: tuple[str, ...] = ()) -> dict:
    if not release:
        print("real: SKIPPED, no FaunaDB release (FAUNADB_RELEASE or ../shared/faunadb)")
        return {"rows": [], "measured": True, "skipped": "no release"}
    build_image(release)
    work = Path(tempfile.mkdtemp(prefix="bench-real-"))
    inventories = {}
    for system, (cluster, prefix, subnet, port) in SYSTEMS.items():
        image = REAL_IMAGE if system == "real" else DOUBLE_IMAGE
        inventories[system] = str(derive_inventory(
            ROOT / "inventory" / "real.yml", work / f"{system}.yml", cluster=cluster,
            prefix=prefix, subnet=subnet, lb_port=port, faunadb_node_image=image))
    extra = [a for v in extra_vars for a in ("-e", v)]
    results: dict[str, list[dict]] = {name: [] for name in systems}
    for n in range(runs):
        order = list(systems) if n % 2 == 0 else list(reversed(systems))
        for system in order:
            print(f"run {n + 1}/{runs}: {system}", flush=True)
            try:
                results[system].append(one_run(inventories[system], extra))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return {"rows": [], "runs": results, "measured": False, "error": str(exc)}
    return {"rows": report(results), "runs": results, "measured": True, "release": release,
            "images": {"real": REAL_IMAGE, "double": DOUBLE_IMAGE}, "extra_vars": extra_vars}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one run of each")
    parser.add_argument("--runs", type=int, help="runs of each system (default 3, smoke 1)")
    parser.add_argument("--release", default=default_release(),
                        help="FaunaDB release tarball (default FAUNADB_RELEASE or ../shared)")
    parser.add_argument("--only", choices=list(SYSTEMS), help="measure one system alone")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="passed to every playbook run (repeatable): another sizing")
    args = parser.parse_args()
    os.chdir(ROOT)
    stamp = utc_stamp()
    section = measure(args.runs or (1 if args.smoke else 3), args.release,
                      (args.only,) if args.only else tuple(SYSTEMS), tuple(args.extra_vars))
    path = save({"utc": stamp, "machine": machine(), "sections": {"real": section}}, stamp)
    print(f"\nJSON: {path.relative_to(ROOT)}")
    return 0 if section["measured"] else 2


if __name__ == "__main__":
    sys.exit(main())
