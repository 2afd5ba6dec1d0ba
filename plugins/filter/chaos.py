# Apache-2.0, like the rest of the project.
"""Filters of the chaos role: the plan of an experiment and its judgement.

Kept in Python rather than in the role's Jinja because both are rules worth
unit tests (tests/unit/roles/test_chaos_filters.py): which nodes a phase hits,
when a fault leaves the log without a quorum, how a run is judged.
"""

from __future__ import annotations

import json
import math
import os
import re

# faunadb_node states a phase may inject, and whether the node stops serving
# its log segment (what the quorum rule counts). A skewed node still serves.
FAULTS = {"killed": True, "stopped": True, "paused": True, "cut_off": True, "skewed": False}
# The word a phase's targets may use for every node no earlier phase took down.
REMAINING = "remaining"
_OFFSET = re.compile(r"^([+-]?)(\d+)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
WRITE_SUCCESS = "write success % (acked writes / writes sent)"


def _offset_seconds(text):
    """Seconds of a faunadb_node offset (+300s, -5m, 30), or None if it is not one."""
    match = _OFFSET.match(str(text).strip())
    if not match:
        return None
    sign, number, unit = match.groups()
    return (-1 if sign == "-" else 1) * int(number) * _UNIT[unit]


def _names(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def chaos_plan(phases, nodes, data_log, allow_quorum_loss=False, fault_seconds_max=600):
    """Resolve the phases of an experiment against the inventory.

    phases: list of {name, fault, targets (nodes, replicas or 'remaining'),
    seconds, offsets (skewed: cycled over the targets), allow_quorum_loss,
    expect_write_success_pct}. nodes: {inventory name: replica}. data_log:
    the data+log replica names. Returns {phases, errors}; each error names
    the variable, its value and what is allowed. Faults accumulate: a phase's
    targets stay faulted until the heal, so the quorum rule counts every node
    taken down so far.
    """
    errors, out, down = [], [], []
    replicas = sorted({r for r in nodes.values() if r})
    if not isinstance(phases, list) or not phases:
        return {"phases": [], "errors": ["chaos_phases must be a non-empty list of phases."]}
    limit = math.ceil(len(data_log) / 2) if data_log else 1
    for index, phase in enumerate(phases):
        where = "chaos_targets" if len(phases) == 1 else f"chaos_phases[{index}]"
        what = where if len(phases) == 1 else f"{where}.targets"
        if not isinstance(phase, dict):
            errors.append(f"{where} is {phase!r}; a phase is a mapping (name, fault, targets, "
                          "seconds).")
            continue
        fault = phase.get("fault")
        if fault not in FAULTS:
            name = "chaos_fault" if len(phases) == 1 else f"{where}.fault"
            errors.append(f"{name} is {fault!r}; it must be one of: {', '.join(FAULTS)}.")
            continue
        asked = _names(phase.get("targets"))
        if not asked:
            errors.append(f"{what} is {json.dumps(phase.get('targets'))}; name at least one "
                          "node of faunadb_nodes, a replica, or 'remaining'.")
            continue
        unknown = [a for a in asked if a not in nodes and a not in replicas and a != REMAINING]
        if unknown:
            errors.append(
                f"{what} is {json.dumps(asked)}; {json.dumps(unknown)} is neither a node of "
                f"faunadb_nodes nor a replica. Allowed nodes: {', '.join(nodes)}; "
                f"replicas: {', '.join(replicas)}; "
                f"or '{REMAINING}' (every node no earlier phase took down)."
            )
            continue
        targets = []
        for a in asked:
            if a == REMAINING:
                hit = [n for n in nodes if n not in down]
            elif a in nodes:
                hit = [a]
            else:
                hit = [n for n, r in nodes.items() if r == a]
            targets += [n for n in hit if n not in targets]
        try:
            seconds = float(phase.get("seconds"))
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 < seconds <= float(fault_seconds_max):
            name = "chaos_fault_seconds" if len(phases) == 1 else f"{where}.seconds"
            errors.append(f"{name} is {phase.get('seconds')!r}; it must be a number of seconds "
                          f"above 0 and at most chaos_fault_seconds_max ({fault_seconds_max}).")
            continue
        offsets = {}
        if fault == "skewed":
            given = _names(phase.get("offsets")) or ["+120s"]
            bad = [o for o in given if _offset_seconds(o) is None]
            if bad:
                name = "chaos_skew_offsets" if len(phases) == 1 else f"{where}.offsets"
                errors.append(f"{name} is {given}; {bad} is not an offset: a whole number with an "
                              "optional sign and unit s, m, h or d, e.g. +300s, -30s, +5m.")
                continue
            offsets = {n: given[i % len(given)] for i, n in enumerate(targets)}
        if FAULTS[fault]:
            down += [n for n in targets if n not in down]
        hit = sorted({nodes[n] for n in down if nodes[n] in data_log})
        quorum_loss = len(hit) >= limit
        allowed = bool(allow_quorum_loss) or bool(phase.get("allow_quorum_loss", False))
        if quorum_loss and FAULTS[fault] and not allowed:
            errors.append(
                f"{what} is {json.dumps(asked)}: the nodes down by then span {len(hit)} of the "
                f"{len(data_log)} data+log replicas ({', '.join(hit)}); taking down nodes of "
                f"{limit} or more of them can leave a log segment without a majority of its "
                "holders (writes and reads stop). Refused; set chaos_allow_quorum_loss=true to do "
                "it anyway."
            )
            continue
        expect = phase.get("expect_write_success_pct")
        out.append({
            "name": str(phase.get("name") or f"{fault} {', '.join(asked)}"),
            "fault": fault,
            "asked": asked,
            "targets": targets,
            "seconds": seconds,
            "offsets": offsets,
            "offset_seconds": {n: _offset_seconds(o) for n, o in offsets.items()},
            "down_so_far": list(down),
            "data_log_hit": hit,
            "quorum_loss": quorum_loss,
            "expect_write_success_pct": None if expect in (None, "") else float(expect),
        })
    return {"phases": out, "errors": errors}


def chaos_effect(probes, phase):
    """Whether the phase's fault shows on every target, from faunadb_node probes.

    probes: the registered results of a probe loop (item.name, running,
    paused, cut_off, skew). Returns {ok, missed, detail}.
    """
    fault, missed, seen = phase["fault"], [], []
    for probe in probes:
        name = (probe.get("item") or {}).get("name", "?")
        if fault in ("killed", "stopped"):
            ok, what = not probe.get("running"), f"status {probe.get('status')}"
        elif fault == "paused":
            ok, what = bool(probe.get("paused")), f"paused {probe.get('paused')}"
        elif fault == "cut_off":
            ok, what = probe.get("cut_off") is True, f"cut off {probe.get('cut_off')}"
        else:
            want = (phase.get("offset_seconds") or {}).get(name)
            ok = probe.get("running") and probe.get("skew") == want
            what = f"skew {probe.get('skew')} s (want {want}), running {probe.get('running')}"
        seen.append(f"{name}: {what}")
        if not ok or probe.get("failed"):
            missed.append(name)
    if len(probes) != len(phase.get("targets") or []):
        missed.append(f"{len(probes)} probes for {len(phase.get('targets') or [])} targets")
    return {"ok": not missed, "missed": missed, "detail": "; ".join(seen)}


def chaos_checks(phases, node_info):
    """The targets testinfra checks after these phases: each node as the
    last phase that hit it left it (down, paused, cut_off or skewed)."""
    expect = {"killed": "down", "stopped": "down", "paused": "paused", "cut_off": "cut_off",
              "skewed": "skewed"}
    found = {}
    for phase in phases:
        for name in phase["targets"]:
            found[name] = dict(node_info[name], expect=expect[phase["fault"]],
                               offset_seconds=(phase.get("offset_seconds") or {}).get(name))
    return list(found.values())


def chaos_windows(phases, workload_start, fault_end, heal_end, workload_end):
    """Stretches of the workload to count separately: before the fault, each
    phase (until the next one starts or the fault ends), the heal, after it.
    Epoch seconds; a stretch whose ends are unknown is left out."""
    out = []

    def add(name, start, end):
        if start is not None and end is not None and float(end) >= float(start):
            out.append({"name": name, "start_epoch": float(start), "end_epoch": float(end)})

    starts = [p.get("start_epoch") for p in phases]
    add("before the fault", workload_start, starts[0] if starts else fault_end)
    for i, phase in enumerate(phases):
        add(phase["name"], starts[i], starts[i + 1] if i + 1 < len(phases) else fault_end)
    add("heal", fault_end, heal_end)
    add("after the heal", heal_end if heal_end is not None else fault_end, workload_end)
    return out


def _met_at_least(measured, expected):
    return measured is not None and float(measured) >= float(expected)


def heal_limit(base, allowance, phases):
    """The heal bound of a run, and how it was made: (seconds, text).

    base is the scenario's own bound; allowance (chaos_heal_allowance_seconds)
    what the system under test needs beyond it to restart a node (a real
    build: a JVM start and admin calls that are JVM starts each). A clock put
    back by S seconds adds S: a real build committed no write until the wall
    clock had passed the time its log had reached (seen: +30 s undone, 33 s
    to heal; +120 s, 132 s).
    """
    limit = float(base)
    shown = f"{base:g}" if isinstance(base, float) else str(base)
    if allowance:
        limit += float(allowance)
        shown += f" + {float(allowance):g} (allowance of this system)"
    ahead = max([float(v) for p in phases for v in (p.get("offset_seconds") or {}).values()]
                + [0.0])
    if ahead > 0:
        limit += ahead
        shown += f" + {ahead:g} (clocks put back)"
    return limit, shown


def chaos_judge(run, expect):
    """The expectations of a run, each {name, expected, measured, met}.

    run: {error, steady (before/after), phases (with 'effect' ok and the
    verify 'window' of each), workload, verification, heal, testinfra}.
    expect: the chaos_expect_* values; None means measured and reported only
    (met whenever it was measured at all).
    """
    w = run.get("workload") or {}
    heal = run.get("heal") or {}
    verification = run.get("verification") or {}
    steady = run.get("steady") or {}
    out = []

    def add(name, expected, measured, met):
        out.append({"name": name, "expected": expected, "measured": measured, "met": bool(met)})

    add("no step failed", "none", run.get("error") or "none", not run.get("error"))
    add("steady state before", True, (steady.get("before") or {}).get("ok", False),
        (steady.get("before") or {}).get("ok", False))
    for phase in run.get("phases") or []:
        effect = phase.get("effect") or {}
        add(f"fault took effect ({phase['name']}: {phase['fault']})", True,
            effect.get("detail", effect.get("ok", False)), effect.get("ok", False))
    writes = w.get("writes") or 0
    success = round(100.0 * (w.get("acked_writes") or 0) / writes, 2) if writes else None
    pct = expect.get("write_success_pct")
    if pct is None:
        add(WRITE_SUCCESS, "reported", success, success is not None)
    else:
        add(WRITE_SUCCESS, f">= {pct}", success,
            _met_at_least(success, pct))
    for phase in run.get("phases") or []:
        window = phase.get("window") or {}
        measured = window.get("write_success_pct")
        want = phase.get("expect_write_success_pct")
        if want is not None:
            add(f"write success % during {phase['name']}", f">= {want}", measured,
                _met_at_least(measured, want))
    lost = w.get("lost_writes")
    add("lost writes", f"<= {expect.get('lost_writes', 0)}", lost,
        lost is not None and lost <= int(expect.get("lost_writes", 0))
        and verification.get("complete", False))
    dup = w.get("duplicate_writes")
    add("duplicate writes", f"<= {expect.get('duplicate_writes', 0)}", dup,
        dup is not None and dup <= int(expect.get("duplicate_writes", 0)))
    lin = w.get("linearizability")
    if lin is not None:  # a register workload ran: its history must be linearizable
        keys = lin.get("keys") or {}
        bad = sorted(k for k, r in keys.items() if r.get("linearizable") is not True)
        add("register history linearizable", f"every key ({len(keys)})",
            "yes" if lin.get("ok") else f"no: {', '.join(bad) or lin.get('error')}",
            lin.get("ok") is True)
    pings = w.get("pings") or {}
    if expect.get("failed_pings") is not None:
        add("failed write pings through the load balancer", f"<= {expect['failed_pings']}",
            pings.get("failed"), pings.get("sent", 0) > 0
            and pings.get("failed", 0) <= int(expect["failed_pings"]))
    p99 = (w.get("latency_ms") or {}).get("p99")
    if expect.get("p99_ms") is not None:
        add("client p99 latency ms", f"<= {expect['p99_ms']}", p99,
            p99 is not None and float(p99) <= float(expect["p99_ms"]))
    elif expect.get("report_p99"):
        add("client p99 latency ms", "reported", p99, p99 is not None)
    for phase, result in (run.get("testinfra") or {}).items():
        add(f"testinfra during {phase}", "all passed",
            f"{result.get('tests', 0)} tests, {result.get('failures', 0)} failed, "
            f"{result.get('errors', 0)} errors", result.get("ok", False))
    seconds, limit = heal.get("seconds"), expect.get("heal_seconds")
    if limit is None:
        add("heal seconds", "reported", seconds, seconds is not None)
    else:
        limit, shown = heal_limit(limit, expect.get("heal_allowance_seconds"),
                                  run.get("phases") or [])
        add("heal seconds", f"< {shown}", seconds,
            seconds is not None and float(seconds) < limit)
    add("steady state after", True, (steady.get("after") or {}).get("ok", False),
        (steady.get("after") or {}).get("ok", False))
    return out


def _pct(part, whole):
    return round(100.0 * part / whole, 2) if whole else None


def _safe(j):
    """Nothing acknowledged lost, nothing replayed, no read missed a write."""
    w = j.get("workload") or {}
    return (w.get("lost_writes") == 0 and (w.get("verification") or {}).get("complete", False)
            and w.get("duplicate_writes", 0) == 0 and w.get("stale_reads", 0) == 0)


def _facts(j):
    w = j.get("workload") or {}
    heal = j.get("heal") or {}
    return (f"{j.get('scenario')}: {w.get('acked_writes', 0)} of {w.get('writes', 0)} writes "
            f"acknowledged ({_pct(w.get('acked_writes', 0), w.get('writes', 0))} %), "
            f"{w.get('lost_writes')} lost, {w.get('duplicate_writes')} duplicated, "
            f"{w.get('stale_reads')} stale reads; healed in {heal.get('seconds')} s; "
            f"verdict {j.get('verdict')}")


def chaos_conclusions(journals, min_write_pct=99.0):
    """The tutorial's conclusions, claim by claim, from a suite's journals.

    Each claim is {claim, held (yes, partly, no or untested), why, evidence};
    'partly' when safety held (nothing lost, replayed or stale) but writes
    were not available enough, so that a report never averages an outage
    away.
    """
    by = {j.get("scenario"): j for j in journals}
    out = []
    rehearsal = any((j.get("system_under_test") or {}).get("test_double") for j in journals)

    def available(j):
        w = j.get("workload") or {}
        pct = _pct(w.get("acked_writes", 0), w.get("writes", 0))
        return pct is not None and pct >= min_write_pct

    def judge(claim, runs, why_yes, why_partly):
        runs = [r for r in runs if r]
        if not runs:
            out.append({"claim": claim, "held": "untested", "why": "no run measured it",
                        "evidence": []})
            return
        safe = all(_safe(r) for r in runs)
        up = all(available(r) and (r.get("heal") or {}).get("ok") for r in runs)
        held = "yes" if safe and up else ("partly" if safe else "no")
        why = why_yes if held == "yes" else (
            why_partly if held == "partly" else
            "acknowledged writes were lost, replayed or read stale (see the evidence)")
        out.append({"claim": claim, "held": held, "why": why,
                    "evidence": [_facts(r) for r in runs]})

    judge("FaunaDB doesn't depend on specific hardware",
          [by.get("kill_node"), by.get("kill_replica")],
          "losing a node, then a whole replica, left writes available and nothing acknowledged "
          "was lost; the killed nodes rejoined on their own once started",
          "nothing acknowledged was lost, but writes were not available enough while hardware "
          "was gone, or the cluster did not heal in time")
    judge("FaunaDB doesn't depend on clocks",
          [by.get("skew_clocks"), by.get("skew_clocks_spread")],
          "with every clock moved, writes stayed available, nothing acknowledged was lost and "
          "no read missed a write: order comes from the log, not the wall clock",
          "the data stayed safe under skew (nothing lost, replayed or stale), but writes were "
          "not available enough while the clocks were off")
    judge("FaunaDB is masterless, active-active",
          [by.get("kill_node")],
          "killing the node that initialised the cluster did not stop writes: no node is a "
          "master, and the load balancer's other nodes kept accepting writes",
          "nothing acknowledged was lost with the seed node down, but writes were not "
          "available enough")
    story = by.get("story")
    if story:
        for phase in story.get("phases") or []:
            window = phase.get("window") or {}
            pct = window.get("write_success_pct")
            if phase.get("quorum_loss"):
                out.append({
                    "claim": f"Cumulative story, {phase.get('name')}: writes under quorum loss",
                    "held": "no" if pct is None or pct < min_write_pct else "yes",
                    "why": (
                        f"with nodes of {', '.join(phase.get('data_log_hit') or [])} down, the "
                        "log segments they shared lost the majority of their holders: writes "
                        "and reads wait for their deadlines (on a real 3 x 2 one such segment "
                        "stalled the whole cluster) "
                        f"({pct} % of the writes sent in this phase were acknowledged, "
                        f"{window.get('indeterminate', 0)} hung, sent on schedule all the "
                        "same); FaunaDB commits through a majority of each log segment's "
                        "holders, by design"),
                    "evidence": [f"{window.get('writes', 0)} writes, "
                                 f"{window.get('acked_writes', 0)} acknowledged, "
                                 f"{window.get('failed', 0)} failed, "
                                 f"{window.get('indeterminate', 0)} indeterminate; "
                                 f"whole story: {_facts(story)}"],
                })
        out.append({"claim": "Cumulative story: nothing acknowledged was lost",
                    "held": "yes" if _safe(story) else "no",
                    "why": "every acknowledged write was read back after the heal"
                    if _safe(story) else "see the lost write ids in the story's report",
                    "evidence": [_facts(story)]})
    if rehearsal:  # what the double did says how the playbooks behave, not how FaunaDB does
        for claim in out:
            claim["rehearsal"] = True
            claim["why"] = f"{REHEARSAL}; {claim['why']}"
    return out


REHEARSAL = "on the test double: this checks the playbooks, not FaunaDB"


def chaos_system(version, image=None, deploy_mode="container", nodes=None):
    """The system under test, for every journal and report.

    version: what the nodes' `faunadb-admin host-version` said (None when it
    could not be asked); image: {name, id, digests} of the node image (container
    mode); nodes: {node: replica}. The project's test double marks its version
    "-double"; anything else is taken as a FaunaDB release.
    """
    replicas = {}
    for node, replica in sorted((nodes or {}).items()):
        replicas.setdefault(replica, []).append(node)
    sizes = sorted({len(v) for v in replicas.values()})
    topology = (f"{len(replicas)} replicas x {sizes[0]} node{'s' if sizes[0] != 1 else ''}"
                if len(sizes) == 1 else f"{len(replicas)} replicas, "
                f"{sum(len(v) for v in replicas.values())} nodes")
    double = bool(version) and str(version).endswith("-double")
    image = image or {}
    where = (f"image {image.get('name')}" + (f" ({image['id'][:19]})" if image.get("id") else "")
             if deploy_mode == "container" else "release tarball, systemd services")
    if double:
        summary = f"the FaunaDB TEST DOUBLE {version}, {topology}, {where}: {REHEARSAL}"
    elif version:
        summary = f"FaunaDB {version}, {topology}, {where}"
    else:
        summary = f"unknown (no node answered host-version), {topology}, {where}"
    return {"product": "faunadb-double" if double else ("faunadb" if version else None),
            "version": version, "test_double": double, "rehearsal": double,
            "image": image.get("name"), "image_id": image.get("id"),
            "image_digests": image.get("digests") or [], "deploy_mode": deploy_mode,
            "topology": topology, "replicas": replicas, "summary": summary}


def chaos_read_journal(run_dir):
    """A run's journal.json, or a stand-in saying it is missing (a run that
    died before writing it still has a place in the suite's report)."""
    path = os.path.join(str(run_dir), "journal.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        return {"scenario": os.path.basename(str(run_dir)), "verdict": "fail",
                "error": f"no journal: {exc}", "dir": str(run_dir)}


class FilterModule:
    def filters(self):
        return {
            "chaos_plan": chaos_plan,
            "chaos_effect": chaos_effect,
            "chaos_checks": chaos_checks,
            "chaos_windows": chaos_windows,
            "chaos_judge": chaos_judge,
            "chaos_conclusions": chaos_conclusions,
            "chaos_read_journal": chaos_read_journal,
            "chaos_system": chaos_system,
        }
