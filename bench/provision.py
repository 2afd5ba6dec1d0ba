#!/usr/bin/env python3
"""Cold provisioning, site.yml against the tutorial's way by hand, and the warm re-run.

A benchmark, not a test: it prints figures next to their goals. Each run:

1. makes sure neither cluster exists (playbooks/teardown.yml, bench/tutorial.sh down);
2. in turn (which goes first alternates from run to run, and the last run ends with
   site.yml so that its cluster stays up for whoever measures next):
   * bench/tutorial.sh cold: plain docker and faunadb-admin, FaunaDB's build order, the
     same node settings (image, nodes, memory, node environment read from the
     inventory); timed to its first write ping through nginx and to "No data movement
     is currently in progress." (site.yml's own end state); then removed;
   * site.yml cold (images present, no containers), then site.yml warm (nothing to
     change: its changed count is reported, the goal is 0), then site.yml --check
     (with --rolling also a rolling configuration change and back); torn down unless
     it is the last thing of the last run (or --teardown).

Figures (median, min, max over the runs; goals judged on the median, never enforced):
script cold to the write ping and to movement done, site.yml cold, the ratio site.yml /
script (goal <= 1.5x against movement done, the same end state; against the ping for
information), site.yml warm, warm / cold (goal < 25 %) and warm changed (goal 0). Per
run it also prints the script's step times and site.yml's per-play times (from the
ansible.posix.profile_tasks callback, which it enables). JSON: bench/results/.

    .venv/bin/python bench/provision.py --smoke          # 3x1, short timings, one run
    .venv/bin/python bench/provision.py --runs 3         # 3x3 with the double's real timings
    .venv/bin/python bench/provision.py -i bench/inventory.yml --teardown

Extra vars (-e) go to every site.yml run, not to the script. Exit status 0 whether or
not a goal is met; 2 when a run failed (the failing command's last lines are printed).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

import yaml
from benchlib import (
    FULL_INVENTORY,
    ROOT,
    SMOKE_INVENTORY,
    Cluster,
    Table,
    inventory_list,
    machine,
    mode_defaults,
    playbook,
    read_inventory,
    save,
    teardown,
    utc_stamp,
)

SCRIPT = ROOT / "bench" / "tutorial.sh"
GOAL_RATIO = 1.5
GOAL_WARM_PCT = 25.0
# A node setting that every node has and that a rolling change can flip and flip back.
ROLLING_VAR = "faunadb_node_shutdown_grace_period_seconds"

# profile_tasks: "Friday 27 November 2026  20:17:27 +0000 (0:00:00.019)  0:00:00.019 ***"
_STAMP_RE = re.compile(r"^\w+ \d+ \w+ \d{4} +[\d:]+ [+-]\d{4} \(([\d:.]+)\) +([\d:.]+) \*+")
_PLAY_RE = re.compile(r"^PLAY \[(.*)\] \*+")
_TASK_RE = re.compile(r"^(.+?) -+ ([\d.]+)s$")
_STEP_RE = re.compile(r"^step (.+?) +([\d.]+) s +total +([\d.]+) s$", re.M)


class RunFailed(RuntimeError):
    def __init__(self, what: str, output: str):
        super().__init__(what)
        self.output = output


# -- what the script is told, read from the inventory -----------------------------------


def lb_containers(inv: dict) -> list[str]:
    hostvars = inv["_meta"]["hostvars"]
    return [hostvars.get(h, {}).get("faunadb_lb_container_name", h)
            for h in inv.get("faunadb_lb", {}).get("hosts", [])]


def script_env(inv: dict, inventory: str) -> dict[str, str]:
    """tutorial.sh's settings for the cluster the inventory describes: the same image,
    shape, memory and node environment; its own names, network and port (bench_tutorial
    in the inventory) so that the full and the smoke benchmark never meet."""
    hostvars = inv["_meta"]["hostvars"]
    node_defaults = yaml.safe_load((ROOT / "roles/faunadb_node/defaults/main.yml").read_text())
    replicas: dict[str, list[str]] = {}
    for host in sorted(h for h, v in hostvars.items() if "faunadb_replica" in v):
        replicas.setdefault(hostvars[host]["faunadb_replica"], []).append(host)
    sizes = {len(hosts) for hosts in replicas.values()}
    if len(sizes) != 1:
        raise ValueError(f"{inventory}: tutorial.sh needs replicas of equal size, has {replicas}")
    first = hostvars[next(iter(replicas.values()))[0]]
    node_env = first.get("faunadb_node_env", node_defaults["faunadb_node_env"]) or {}
    return {
        "TUT_IMAGE": first["faunadb_node_image"],
        "TUT_REPLICAS": str(len(replicas)),
        "TUT_NODES": str(sizes.pop()),
        "TUT_MEMORY": str(first.get("faunadb_node_memory", node_defaults["faunadb_node_memory"])),
        "TUT_CPUS": str(first.get("faunadb_node_cpus", node_defaults["faunadb_node_cpus"])),
        "TUT_NODE_ENV": " ".join(f"{k}={v}" for k, v in node_env.items()),
        **{f"TUT_{k.upper()}": str(v) for k, v in first.get("bench_tutorial", {}).items()},
    }


# -- the two ways ---------------------------------------------------------------------


def tutorial(action: str, env: dict[str, str],
             timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), action], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)


def script_cold(env: dict[str, str]) -> dict:
    start = time.monotonic()
    proc = tutorial("up", env)
    took = time.monotonic() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RunFailed(f"bench/tutorial.sh up failed (exit {proc.returncode})", out)
    ping = re.search(r"^write ping after ([\d.]+) s$", proc.stdout, re.M)
    moved = re.search(r"^movement finished after ([\d.]+) s$", proc.stdout, re.M)
    if not ping or not moved:
        raise RunFailed("bench/tutorial.sh printed no write ping or movement time", out)
    steps = [{"step": m[1], "seconds": float(m[2])} for m in _STEP_RE.finditer(proc.stdout)]
    return {"ping_s": float(ping[1]), "movement_s": float(moved[1]), "wall_s": took,
            "steps": steps}


def play_times(output: str) -> list[dict]:
    """Seconds per play from profile_tasks' stamps: from a play's first task to the next
    play's first task (the last one: to the stamp after the recap)."""
    plays, current = [], None
    stamps = []  # (play index, cumulative seconds)
    for line in output.splitlines():
        if m := _PLAY_RE.match(line):
            plays.append({"play": m[1], "seconds": 0.0})
            current = len(plays) - 1
        elif (m := _STAMP_RE.match(line)) and current is not None:
            h, mi, s = m[2].split(":")
            stamps.append((current, int(h) * 3600 + int(mi) * 60 + float(s)))
    firsts: dict[int, float] = {}
    for idx, t in stamps:
        firsts.setdefault(idx, t)
    if not stamps:
        return plays
    end = stamps[-1][1]
    order = sorted(firsts)
    for i, idx in enumerate(order):
        nxt = firsts[order[i + 1]] if i + 1 < len(order) else end
        plays[idx]["seconds"] = round(nxt - firsts[idx], 1)
    return plays


def slowest_tasks(output: str, count: int = 10) -> list[dict]:
    """The slowest tasks from profile_tasks' list after the recap (slowest first)."""
    tail = output.split("TASKS RECAP", 1)[-1]
    found = [_TASK_RE.match(line.strip()) for line in tail.splitlines()]
    return [{"task": m[1], "seconds": float(m[2])} for m in found if m][:count]


def site(inventory: str, what: str, *args: str) -> dict:
    run = playbook(inventory, "site.yml", *args)
    if not run.ok:
        raise RunFailed(f"ansible-playbook -i {inventory} site.yml {shlex.join(args)} "
                        f"({what}) failed", run.output)
    return {"seconds": run.seconds, "changed": run.changed, "plays": play_times(run.output),
            "slowest_tasks": slowest_tasks(run.output)}


def site_down(inventory: str, name: str) -> None:
    run = teardown(inventory, name)
    if not run.ok:
        raise RunFailed(f"teardown of {name} failed", run.output)


def script_down(env: dict[str, str]) -> None:
    proc = tutorial("down", env, timeout=300)
    if proc.returncode != 0:
        raise RunFailed("bench/tutorial.sh down failed", proc.stdout + proc.stderr)


def leftovers(names: list[str]) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    return sorted(set(names) & set(out))


# -- the measurement ---------------------------------------------------------------------


@dataclass
class Plan:
    inventory: str
    cluster: Cluster
    containers: list[str]  # the site.yml cluster's nodes and load balancer
    env: dict[str, str]  # tutorial.sh's settings
    extra: list[str]  # -e arguments of every site.yml run
    teardown: bool
    rolling: bool


def script_part(plan: Plan, n: int) -> dict:
    try:
        result = script_cold(plan.env)
    finally:
        script_down(plan.env)
    print(f"run {n + 1}: tutorial.sh cold: write ping {result['ping_s']:.1f} s, "
          f"movement done {result['movement_s']:.1f} s", flush=True)
    for step in result["steps"]:
        print(f"    {step['step']:<56} {step['seconds']:7.1f} s")
    return result


def site_part(plan: Plan, n: int, keep: bool) -> dict:
    out = {"cold": site(plan.inventory, "cold", *plan.extra),
           "warm": site(plan.inventory, "warm", *plan.extra),
           "check": site(plan.inventory, "--check", "--check", *plan.extra)}
    if plan.rolling:
        grace = yaml.safe_load((ROOT / "roles/faunadb_node/defaults/main.yml")
                               .read_text())[ROLLING_VAR]
        out["rolling"] = [site(plan.inventory, "rolling change", *plan.extra, "-e",
                               f"{ROLLING_VAR}={grace - 1}"),
                          site(plan.inventory, "rolling change back", *plan.extra)]
    cold, warm, check = out["cold"], out["warm"], out["check"]
    print(f"run {n + 1}: site.yml cold {cold['seconds']:.1f} s (changed={cold['changed']}), "
          f"warm {warm['seconds']:.1f} s (changed={warm['changed']}), --check "
          f"{check['seconds']:.1f} s (changed={check['changed']})", flush=True)
    print(f"    {'play':<56} {'cold':>7} {'warm':>7}")
    warm_plays = {p["play"]: p["seconds"] for p in warm["plays"]}
    for play in cold["plays"]:
        print(f"    {play['play'][:56]:<56} {play['seconds']:7.1f} "
              f"{warm_plays.get(play['play'], 0.0):7.1f}")
    for r in out.get("rolling", []):
        print(f"    rolling configuration change: {r['seconds']:.1f} s (changed={r['changed']})")
    if not keep:
        site_down(plan.inventory, plan.cluster.name)
    return out


def one_run(plan: Plan, n: int, runs: int) -> dict:
    # Alternating, and the last run ends with site.yml, whose cluster then stays up.
    order = ("script", "site") if (runs - 1 - n) % 2 == 0 else ("site", "script")
    site_down(plan.inventory, plan.cluster.name)
    script_down(plan.env)
    left = leftovers(plan.containers)
    if left:
        raise RunFailed(f"still there after the teardown: {', '.join(left)}", "")
    run: dict = {"order": list(order)}
    for what in order:
        if what == "script":
            run["script"] = script_part(plan, n)
        else:
            keep = n == runs - 1 and what == order[-1] and not plan.teardown
            run.update(site_part(plan, n, keep))
    return run


def report(results: list[dict], title: str, rolling: bool) -> Table:
    table = Table(title)
    script = [r["script"] for r in results]
    cold = [r["cold"]["seconds"] for r in results]
    warm = [r["warm"]["seconds"] for r in results]
    table.row("tutorial.sh cold, to the write ping", [s["ping_s"] for s in script], unit="s")
    table.row("tutorial.sh cold, to movement done", [s["movement_s"] for s in script],
              unit="s")
    table.row("site.yml cold (movement done, ping)", cold, unit="s")
    table.row("ratio site.yml / script (movement done)",
              [c / s["movement_s"] for c, s in zip(cold, script, strict=True)],
              f"<= {GOAL_RATIO:g}x", lambda v: v <= GOAL_RATIO, unit="x")
    table.row("ratio site.yml / script (write ping)",
              [c / s["ping_s"] for c, s in zip(cold, script, strict=True)], unit="x")
    table.row("site.yml warm", warm, unit="s")
    table.row("site.yml warm / cold", [100 * w / c for w, c in zip(warm, cold, strict=True)],
              f"< {GOAL_WARM_PCT:g} %", lambda v: v < GOAL_WARM_PCT, unit="%")
    table.row("site.yml warm: changed", [r["warm"]["changed"] for r in results], "0",
              lambda v: v == 0)
    table.row("site.yml --check, converged", [r["check"]["seconds"] for r in results],
              unit="s")
    table.row("site.yml --check: changed", [r["check"]["changed"] for r in results], "0",
              lambda v: v == 0)
    if rolling:
        table.row("site.yml rolling config change (and back)",
                  [x["seconds"] for r in results for x in r["rolling"]], unit="s")
    return table


def measure(inventory: str, runs: int, smoke: bool, extra_vars: list[str], *,
            teardown: bool = False, rolling: bool = False) -> dict:
    """Returns {"rows", "runs", "measured"}; a failed run is printed (the failing
    command's last lines), ends the measurement and makes "measured" false."""
    # Per-play times come from this callback's stamps; it costs nothing measurable.
    os.environ["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    inv = inventory_list(inventory)
    cluster = read_inventory(inventory)
    plan = Plan(inventory, cluster, [*cluster.nodes, *lb_containers(inv)],
                script_env(inv, inventory), [a for v in extra_vars for a in ("-e", v)],
                teardown, rolling)
    print(f"{'smoke' if smoke else 'full'} mode: {runs} run(s); site.yml on {cluster.name} "
          f"({len(cluster.nodes)} nodes, {inventory}); tutorial.sh with "
          + " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.env.items()), flush=True)
    results, error = [], None
    for n in range(runs):
        try:
            results.append(one_run(plan, n, runs))
        except RunFailed as exc:
            print(exc.output[-4000:], file=sys.stderr)
            print(f"\nrun {n + 1}: {exc}", file=sys.stderr)
            error = str(exc)
            break
    rows = []
    if results:
        rows = report(results, f"{len(results)} run(s), {len(cluster.nodes)} nodes "
                      f"({'smoke' if smoke else 'full'} mode)", rolling).rows
    return {"rows": rows, "runs": results, "measured": error is None, "error": error}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help=f"one run on the 3x1 {SMOKE_INVENTORY} (short timings)")
    parser.add_argument("-i", "--inventory",
                        help=f"default {FULL_INVENTORY}, with --smoke {SMOKE_INVENTORY}")
    parser.add_argument("--runs", type=int, help="default 3, with --smoke 1")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="passed to every site.yml run (repeatable)")
    parser.add_argument("--teardown", action="store_true",
                        help="remove the site.yml cluster at the end too")
    parser.add_argument("--rolling", action="store_true",
                        help=f"also time a rolling configuration change ({ROLLING_VAR}) and "
                             "back, after the warm run")
    args = parser.parse_args()
    inventory, runs = mode_defaults(args.inventory, args.runs, args.smoke)
    os.chdir(ROOT)
    stamp = utc_stamp()
    started = time.monotonic()
    result = measure(inventory, runs, args.smoke, args.extra_vars, teardown=args.teardown,
                     rolling=args.rolling)
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    doc = {"benchmark": "provision", "mode": "smoke" if args.smoke else "full", "utc": stamp,
           "inventory": inventory, "extra_vars": args.extra_vars, "machine": machine(),
           **result}
    print(f"JSON: {save(doc, stamp).relative_to(ROOT)}")
    return 0 if result["measured"] else 2


if __name__ == "__main__":
    sys.exit(main())
