# The logic of library/faunadb_chaos_timeline.py: read chaos journals (journal.json of
# roles/chaos) defensively, since a failed run leaves any part missing or null, and draw one
# panel per journal with matplotlib's Agg canvas (no display, no pyplot global state).
"""Chaos timeline: per-second workload, latency, phases, heal and the smallest window of each
register key found not linearizable, of chaos runs, as a PNG."""

from __future__ import annotations

import json
import math
import os
import traceback

from ansible.module_utils.faunadb_common import finite_number, replace_file

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError:
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = traceback.format_exc()

MISSING_MATPLOTLIB = (
    "The Python package matplotlib (matplotlib>=3.9,<4) is needed where faunadb_chaos_timeline "
    "runs (usually the controller); it is listed in the project's requirements.txt - install it "
    "into the venv with: .venv/bin/pip install -r requirements.txt"
)

# Light, distinct shades for the phases, in order; the heal is grey and hatched.
PHASE_COLOURS = ("#8ecae6", "#ffd6a5", "#caffbf", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff")
OK_COLOUR, FAILED_COLOUR, INDETERMINATE_COLOUR = "#2e9e44", "#d62728", "#ff8c00"
LATENCY_COLOUR = "#1f3b73"
LOG_SCALE_RATIO = 50  # p99 drawn on a log scale when its max/min exceeds this
PANEL_WIDTH_IN, PANEL_HEIGHT_IN, TITLE_HEIGHT_IN = 13.0, 3.8, 0.5
X_LABEL = "seconds since the workload started"
LABEL_MIN_GAP = 0.15  # labels whose starts are closer than this share of the x range stagger


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def load(path):
    """(journal dict, problem or None); an unreadable journal is an empty one with a problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}, f"journal {path} is missing"
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"journal {path} cannot be read: {exc}"
    except ValueError as exc:
        return {}, f"journal {path} is not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"journal {path} is not a JSON object"
    return data, None


def per_second(journal):
    """The workload's seconds as dicts of numbers (0 for missing counts), sorted by t."""
    rows = []
    for item in _list(_dict(journal.get("workload")).get("per_second")):
        entry = _dict(item)
        t = finite_number(entry.get("t"))
        if t is None:
            continue
        row = {"t": t, "p99_ms": finite_number(entry.get("p99_ms"))}
        for key in ("ok", "failed", "indeterminate", "pings", "pings_failed"):
            row[key] = finite_number(entry.get(key)) or 0.0
        rows.append(row)
    return sorted(rows, key=lambda r: r["t"])


def phases(journal):
    """[(name, kind, targets, start_t, end_t or None)]; the fault when no phases are recorded."""
    recorded = journal.get("phases")
    if not isinstance(recorded, list):
        fault = _dict(journal.get("fault"))
        recorded = [dict(fault, name="fault")] if fault else []
    result = []
    for item in recorded:
        phase = _dict(item)
        start = finite_number(phase.get("start_t"))
        if start is None:
            continue
        targets = [str(t) for t in _list(phase.get("targets"))]
        name = phase.get("name")
        kind = phase.get("kind")
        result.append((str(name) if name is not None else "phase",
                       str(kind) if kind is not None else "", targets, start,
                       finite_number(phase.get("end_t"))))
    return result


def heal_window(journal):
    """(start_t, end_t or None) of the heal, in workload seconds, or None when unknown."""
    heal = _dict(journal.get("heal"))
    origin = finite_number(_dict(journal.get("workload")).get("started_epoch"))
    start = finite_number(heal.get("start_epoch"))
    if start is None:  # journals that only record the fault's end: the heal starts there
        start = finite_number(_dict(journal.get("fault")).get("end_epoch"))
    if origin is None or start is None:
        return None
    end = finite_number(heal.get("end_epoch"))
    if end is None and finite_number(heal.get("seconds")) is not None:
        end = start + finite_number(heal.get("seconds"))
    return start - origin, (end - origin if end is not None else None)


def violations(journal):
    """[(key, start_t, end_t)]: each register key whose history is not linearizable, with the
    smallest failing window its check found (workload seconds), sorted by start."""
    lin = _dict(_dict(journal.get("workload")).get("linearizability"))
    found = []
    for key, result in _dict(lin.get("keys")).items():
        window = _dict(_dict(result).get("window"))
        start, end = finite_number(window.get("start")), finite_number(window.get("end"))
        if _dict(result).get("linearizable") is False and start is not None:
            found.append((str(key), start, end if end is not None and end >= start else start))
    return sorted(found, key=lambda v: v[1])


def scenario_of(path, journal):
    scenario = journal.get("scenario")
    if isinstance(scenario, str) and scenario:
        return scenario
    return os.path.basename(os.path.dirname(os.path.abspath(path))) or "unknown scenario"


def verdict_of(journal):
    verdict = journal.get("verdict")
    return str(verdict).upper() if verdict else "NO VERDICT"


def _label(name, kind, targets):
    head = name if not kind or kind == name else f"{name} · {kind}"
    if targets:
        tail = ", ".join(targets)
        head += "\n" + (tail if len(tail) <= 40 else tail[:39] + "…")
    return head


def _draw_labels(ax, labels, span):
    """Phase and heal labels along the top; one starting close to the last goes a level lower."""
    level, last = 0, None
    for start, text in sorted(labels, key=lambda x: x[0]):
        close = last is not None and start - last < LABEL_MIN_GAP * span
        level = (level + 1) % 2 if close else 0
        ax.text(start, 0.98 - 0.17 * level, text, transform=ax.get_xaxis_transform(), va="top",
                ha="left", fontsize=7.5, zorder=7, clip_on=True,
                bbox=dict(facecolor="white", alpha=0.75, edgecolor="none", pad=1.5))
        last = start


def draw_panel(ax, path, journal, problem):
    """Draw one journal on ax; return the panel's summary (what was found and drawn)."""
    rows = per_second(journal)
    spans = phases(journal)
    heal = heal_window(journal)
    bad = violations(journal)
    scenario, verdict = scenario_of(path, journal), verdict_of(journal)
    ends = [r["t"] + 1 for r in rows] + [s[3] for s in spans] + [s[4] for s in spans if s[4]]
    ends += [v[2] for v in bad]
    if heal:
        ends += [x for x in heal if x is not None]
    x_max = max(ends + [10.0])
    x_min = min([0.0] + [r["t"] for r in rows] + [s[3] for s in spans] + ([heal[0]] if heal
                                                                          else []))
    handles = []

    labels = []  # (start, text), drawn once the x range is known
    for i, (name, kind, targets, start, end) in enumerate(spans):
        colour = PHASE_COLOURS[i % len(PHASE_COLOURS)]
        ax.axvspan(start, end if end is not None else x_max, color=colour, alpha=0.55,
                   zorder=0, linewidth=0)
        labels.append((start, _label(name, kind, targets)))
    if heal:
        ax.axvspan(heal[0], heal[1] if heal[1] is not None else x_max, facecolor="0.88",
                   edgecolor="0.55", hatch="///", alpha=0.6, zorder=0, linewidth=0)
        labels.append((heal[0], "heal" if heal[1] is not None else "heal (not finished)"))
        handles.append(Patch(facecolor="0.88", edgecolor="0.55", hatch="///", label="heal"))
    for key, start, end in bad:
        # At least a fifth of a second wide, so that a window of one instant still shows.
        ax.axvspan(start, max(end, start + 0.2), facecolor="none", edgecolor=FAILED_COLOUR,
                   hatch="xx", linewidth=1.2, zorder=5)
        labels.append((start, f"not linearizable\nkey {key}"))
    if bad:
        handles.append(Patch(facecolor="none", edgecolor=FAILED_COLOUR, hatch="xx",
                             label="not linearizable\n(smallest failing window)"))
    _draw_labels(ax, labels, x_max - x_min)

    if rows:
        ts = [r["t"] for r in rows]
        ok = [r["ok"] for r in rows]
        failed = [r["failed"] for r in rows]
        indeterminate = [r["indeterminate"] for r in rows]
        bottom_i = [a + b for a, b in zip(ok, failed, strict=True)]
        bar = dict(width=0.9, align="edge", zorder=2, linewidth=0, alpha=0.85)
        ax.bar(ts, ok, color=OK_COLOUR, label="ok", **bar)
        ax.bar(ts, failed, bottom=ok, color=FAILED_COLOUR, label="failed", **bar)
        ax.bar(ts, indeterminate, bottom=bottom_i, color=INDETERMINATE_COLOUR,
               label="indeterminate", **bar)
        handles = [Patch(color=OK_COLOUR, label="ok"), Patch(color=FAILED_COLOUR, label="failed"),
                   Patch(color=INDETERMINATE_COLOUR, label="indeterminate")] + handles
        top = max(a + b for a, b in zip(bottom_i, indeterminate, strict=True))
        ax.set_ylim(0, max(top, 1) * 1.25)  # room for the phase labels

        pinged = [r for r in rows if r["pings_failed"] > 0]
        if pinged:
            ax.plot([r["t"] + 0.45 for r in pinged], [0.03] * len(pinged), linestyle="none",
                    marker="v", color=FAILED_COLOUR, markersize=7, markeredgecolor="black",
                    markeredgewidth=0.5, transform=ax.get_xaxis_transform(), zorder=6,
                    clip_on=False)
            handles.append(Line2D([], [], linestyle="none", marker="v", color=FAILED_COLOUR,
                                  markeredgecolor="black", label="failed pings"))

        p99 = [r["p99_ms"] for r in rows]
        positive = [v for v in p99 if v is not None and v > 0]
        if positive:
            lat = ax.twinx()
            lat.plot([t + 0.45 for t in ts], [v if v is not None else math.nan for v in p99],
                     color=LATENCY_COLOUR, linewidth=1.4, marker=".", markersize=3, zorder=4)
            if max(positive) / min(positive) > LOG_SCALE_RATIO:
                lat.set_yscale("log", nonpositive="mask")
            else:
                lat.set_ylim(0, max(positive) * 1.25)
            lat.set_ylabel("p99 latency (ms)", color=LATENCY_COLOUR)
            lat.tick_params(axis="y", colors=LATENCY_COLOUR)
            handles.append(Line2D([], [], color=LATENCY_COLOUR, label="p99 latency (ms)"))
    else:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, problem or "no per-second workload data in this journal",
                transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.35")

    ax.set_xlim(x_min, x_max)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel("requests per second")
    colour = {"PASS": "#1b7a2e", "FAIL": "#b00020"}.get(verdict, "black")
    ax.set_title(f"{scenario} — {verdict}", loc="left", fontweight="bold", color=colour)
    # A figure travels without its report: it says itself what it measured.
    ax.set_title(system_under_test(journal), loc="right", fontsize=9, color="0.3")
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=8,
                  frameon=False)
    return summary(path, journal, problem)


def system_under_test(journal):
    """One line naming what was measured, from the journal's system_under_test."""
    sut = _dict(_dict(journal).get("system_under_test"))
    topology = f", {sut['topology']}" if sut.get("topology") else ""
    if sut.get("test_double"):
        return (f"system under test: the FaunaDB test double {sut.get('version') or ''}"
                f"{topology} (a rehearsal of the automation)")
    if sut.get("version"):
        return f"system under test: FaunaDB {sut['version']}{topology}"
    return "system under test: not recorded"


def summary(path, journal, problem):
    """What the panel of a journal shows (also check mode's report, without drawing)."""
    return dict(journal=path, scenario=scenario_of(path, journal), verdict=verdict_of(journal),
                seconds=len(per_second(journal)), phases=[s[0] for s in phases(journal)],
                heal=heal_window(journal) is not None,
                not_linearizable=[v[0] for v in violations(journal)], problem=problem)


def render(paths, dest, title=None):
    """Draw one panel per journal into dest (atomically, mode 0640); return the panels."""
    n = max(len(paths), 1)
    height = PANEL_HEIGHT_IN * n + (TITLE_HEIGHT_IN if title else 0)
    fig = Figure(figsize=(PANEL_WIDTH_IN, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    panels = []
    for ax, path in zip(axes, paths, strict=False):
        journal, problem = load(path)
        panels.append(draw_panel(ax, path, journal, problem))
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    write_png(fig, dest)
    return panels


def write_png(fig, dest):
    replace_file(dest, lambda handle: fig.savefig(handle, format="png"), mode=0o640,
                 prefix=".tmp-png-")


def needs_render(paths, dest):
    """Check mode's prediction: dest is missing, or a journal was modified after it."""
    try:
        written = os.stat(dest).st_mtime
    except OSError:
        return True
    for path in paths:
        try:
            if os.stat(path).st_mtime > written:
                return True
        except OSError:
            continue
    return False
