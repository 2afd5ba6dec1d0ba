"""What every benchmark script shares: statistics, the figures table, playbook runs,
the cluster an inventory describes, and the results file.

A figure is always the median, min and max of several runs; a goal is printed
next to it and judged on the median, never enforced (exit status is about
whether the measurement could be made, not about the goals).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
# The benchmark's own clusters: the full 3x3 and the smoke mode's 3x1.
FULL_INVENTORY = "bench/inventory.yml"
SMOKE_INVENTORY = "bench/inventory_small.yml"


# -- statistics ------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, the chaos workload's (with few samples, p99 is the maximum)."""
    return module_util("faunadb_workload_stats").percentile(values, p)


def make_client(target: tuple[str, int], key: str, timeout: float):
    """The driver's client exactly as the chaos workload makes it (its timeouts, one
    connection, no version lookup): the benchmarks measure as a client would."""
    return module_util("faunadb_workload_client").driver_client(
        f"http://{target[0]}:{target[1]}", key, timeout)


def spread(values: list) -> tuple | None:
    """(median, min, max) of the values that are not None; None when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):  # counts stay counts
        return f"{value}{unit}"
    return f"{value:.1f}{unit}"


# -- the figures table -------------------------------------------------------------------


@dataclass
class Table:
    """Rows of figure / median / min / max / goal / verdict, printed as they are added."""

    title: str = ""
    rows: list[dict] = field(default_factory=list)
    _header_printed: bool = False

    def row(self, label: str, values: list, goal: str = "", passed=None, unit: str = "",
            **extra) -> dict:
        """Add a figure from its per-run values; `passed(median)` judges the goal."""
        s = spread(values)
        med, lo, hi = s if s else (None, None, None)
        verdict = "" if passed is None or med is None else ("pass" if passed(med) else "MISS")
        entry = {"figure": label, "median": med, "min": lo, "max": hi, "unit": unit.strip(),
                 "goal": goal, "verdict": verdict, "runs": len([v for v in values
                                                                 if v is not None]), **extra}
        self.rows.append(entry)
        self._print(entry)
        return entry

    def _print(self, entry: dict) -> None:
        if not self._header_printed:
            if self.title:
                print(f"\n{self.title}")
            print(f"  {'figure':<46} {'median':>10} {'min':>10} {'max':>10}  goal")
            self._header_printed = True
        unit = f" {entry['unit']}" if entry["unit"] else ""
        print(f"  {entry['figure']:<46} {fmt(entry['median'], unit):>10} "
              f"{fmt(entry['min'], unit):>10} {fmt(entry['max'], unit):>10}"
              f"  {entry['goal']:<18} {entry['verdict']}", flush=True)


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (for the README's Performance section)."""
    out = ["| figure | median | min | max | goal | |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        unit = f" {r['unit']}" if r.get("unit") else ""
        out.append(f"| {r['figure']} | {fmt(r['median'], unit)} | {fmt(r['min'])} | "
                   f"{fmt(r['max'])} | {r['goal']} | {r['verdict']} |")
    return "\n".join(out)


# -- playbooks ---------------------------------------------------------------------------


@dataclass
class PlaybookRun:
    ok: bool
    seconds: float
    changed: int  # the recap's changed= summed over hosts
    output: str


def playbook(inventory: str, *args: str, timeout: float = 1800) -> PlaybookRun:
    """ansible-playbook from the repository root with the venv first on PATH."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
           "ANSIBLE_FORCE_COLOR": "0"}
    start = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", inventory, *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    took = time.monotonic() - start
    changed = sum(int(n) for n in re.findall(r"\schanged=(\d+)", proc.stdout))
    return PlaybookRun(proc.returncode == 0, took, changed, proc.stdout + proc.stderr)


def teardown(inventory: str, cluster: str) -> PlaybookRun:
    return playbook(inventory, "playbooks/teardown.yml", "-e",
                    f"faunadb_teardown_confirm={cluster}")


def mode_defaults(inventory: str | None, runs: int | None, smoke: bool) -> tuple[str, int]:
    """The inventory and run count a benchmark uses unless told: 3 runs on the 3x3,
    or 1 on the 3x1 in smoke mode."""
    return inventory or (SMOKE_INVENTORY if smoke else FULL_INVENTORY), runs or (1 if smoke
                                                                                 else 3)


# -- the cluster an inventory describes -------------------------------------------------


@dataclass
class Cluster:
    name: str
    lb: tuple[str, int]
    nodes: list[str]  # container names
    key_file: Path
    inventory: str = ""


def inventory_list(inventory: str) -> dict:
    """`ansible-inventory --list`: groups and every host's variables."""
    out = subprocess.run([str(BIN / "ansible-inventory"), "-i", inventory, "--list"],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def read_inventory(inventory: str) -> Cluster:
    inv = inventory_list(inventory)
    hostvars = inv["_meta"]["hostvars"]
    defaults = yaml.safe_load((ROOT / "roles/faunadb_lb/defaults/main.yml").read_text())

    def members(group: str) -> list[str]:
        entry = inv.get(group, {})
        hosts = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            hosts += members(child)
        return hosts

    lb_host = members("faunadb_lb")[0]
    lb_vars = hostvars.get(lb_host, {})
    nodes = [hostvars.get(h, {}).get("faunadb_container", h) for h in members("faunadb_nodes")]
    name = lb_vars.get("faunadb_cluster_name", "fauna")
    lb = (lb_vars.get("faunadb_lb_publish_address", defaults["faunadb_lb_publish_address"]),
          int(lb_vars.get("faunadb_lb_publish_port", defaults["faunadb_lb_publish_port"])))
    key_file = (ROOT / inventory).resolve().parent / ".secrets" / f"{name}.root_key"
    return Cluster(name, lb, nodes, key_file, inventory)


def module_util(name: str):
    """The project's module_utils/NAME.py, imported as Ansible imports it."""
    import ansible.module_utils  # noqa: PLC0415 - only benchmarks that need one pay for it

    if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
    return importlib.import_module(f"ansible.module_utils.{name}")


def lb_answers(lb: tuple[str, int], scope: str = "write") -> bool:
    ping = module_util("faunadb_ping")
    status, *_ = ping.get(ping.ping_url(f"http://{lb[0]}:{lb[1]}", scope), 3)
    return status == 200


# -- results -----------------------------------------------------------------------------


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def machine() -> dict:
    """What the figures ran on, for the results file and the README."""
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"],
                            capture_output=True, text=True, check=False, timeout=30)
    return {"nproc": os.cpu_count(), "kernel": os.uname().release,
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                             / 2**30, 1),
            "docker": docker.stdout.strip() or None}


def save(doc: dict, stamp: str | None = None) -> Path:
    """bench/results/<UTC time>.json (git-ignored); returns the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{stamp or utc_stamp()}.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path
