"""faunadb_chaos_timeline: chaos journals drawn as a PNG, through main() and the drawing helpers."""

from __future__ import annotations

import json
import os
import stat
import struct
from unittest import mock

import faunadb_chaos_timeline
import pytest
from ansible.module_utils import faunadb_chaos_timeline as tl
from faunadb_module_testkit import run_module_main
from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def call(capsys, check_mode=False, **args):
    return run_module_main(faunadb_chaos_timeline, args, capsys, check_mode=check_mode).result


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def full_journal(scenario="kill_node", verdict="pass", p99=lambda t: 8.0 + t % 5):
    seconds = []
    for t in range(40):
        faulty = 10 <= t < 20
        seconds.append(dict(t=t, requests=20, ok=12 if faulty else 20, failed=5 if faulty else 0,
                            indeterminate=3 if faulty else 0, p99_ms=None if t == 15 else p99(t),
                            pings=1, pings_failed=1 if faulty else 0))
    return dict(
        scenario=scenario, verdict=verdict,
        workload=dict(per_second=seconds, started_epoch=1000.0),
        phases=[dict(name="kill", kind="killed", targets=["replica2_node1"], start_t=10,
                     end_t=20)],
        heal=dict(ok=True, start_epoch=1020.0, end_epoch=1026.0, seconds=6.0),
    )


def write(path, journal):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(journal) if not isinstance(journal, str) else journal)
    return str(path)


def test_one_panel_is_a_png_wider_than_tall(tmp_path, capsys):
    journal = write(tmp_path / "run" / "journal.json", full_journal())
    dest = tmp_path / "timeline.png"
    result = call(capsys, journals=[journal], dest=str(dest))
    assert not result.get("failed"), result
    assert result["changed"] is True and result["dest"] == str(dest)
    width, height = png_size(dest)
    assert width > height
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["run", "timeline.png"]  # no temp file left
    assert result["panels"] == [dict(journal=journal, scenario="kill_node", verdict="PASS",
                                     seconds=40, phases=["kill"], heal=True, not_linearizable=[],
                                     problem=None)]


def test_three_journals_make_a_taller_image(tmp_path, capsys):
    journals = [write(tmp_path / f"r{i}" / "journal.json", full_journal(f"s{i}"))
                for i in range(3)]
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    call(capsys, journals=journals[:1], dest=str(one))
    result = call(capsys, journals=journals, dest=str(three), title="Three runs")
    assert [p["scenario"] for p in result["panels"]] == ["s0", "s1", "s2"]
    (w1, h1), (w3, h3) = png_size(one), png_size(three)
    assert w1 == w3 and h3 > 2.5 * h1


@pytest.mark.parametrize("journal", [
    {"scenario": "kill_replica", "verdict": "fail"},
    {"scenario": None, "verdict": None, "workload": None, "phases": None, "fault": None,
     "heal": None},
    {"workload": {"per_second": None, "started_epoch": None}, "phases": [], "heal": {}},
    {"workload": {"per_second": [{"t": "x"}, "junk", {"t": 3, "ok": "7", "failed": None,
                                                      "p99_ms": "NaN", "pings_failed": "1"}],
                  "started_epoch": "abc"},
     "phases": [{"name": None, "start_t": None}, {"kind": "paused", "start_t": 1, "end_t": None},
                "junk"],
     "heal": {"start_epoch": None, "end_epoch": 12}},
    [1, 2, 3],
])
def test_journals_with_parts_missing_still_draw(tmp_path, capsys, journal):
    path = write(tmp_path / "broken" / "journal.json", journal)
    dest = tmp_path / "t.png"
    result = call(capsys, journals=[path], dest=str(dest))
    assert not result.get("failed"), result
    png_size(dest)
    panel = result["panels"][0]
    assert panel["verdict"] in ("FAIL", "NO VERDICT")
    assert panel["scenario"] in ("kill_replica", "broken")


def test_missing_and_unparsable_journals_draw_empty_panels_with_a_warning(tmp_path, capsys):
    good = write(tmp_path / "good" / "journal.json", full_journal())
    bad = write(tmp_path / "bad" / "journal.json", "{truncated")
    missing = str(tmp_path / "gone" / "journal.json")
    dest = tmp_path / "t.png"
    result = call(capsys, journals=[good, bad, missing], dest=str(dest))
    assert not result.get("failed"), result
    problems = [p["problem"] for p in result["panels"]]
    assert problems[0] is None
    assert problems[1].startswith(f"journal {bad} is not JSON")
    assert problems[2] == f"journal {missing} is missing"
    warnings = json.dumps(result["warnings"])
    assert "is not JSON" in warnings and "is missing" in warnings
    png_size(dest)


def test_fault_stands_in_for_missing_phases_and_heal_starts_at_its_end():
    journal = dict(workload=dict(started_epoch=100.0),
                   fault=dict(kind="killed", start_t=5.0, end_t=15.0, end_epoch=115.0),
                   heal=dict(ok=True, seconds=4.5))
    assert tl.phases(journal) == [("fault", "killed", [], 5.0, 15.0)]
    assert tl.heal_window(journal) == (15.0, 19.5)
    journal["heal"] = dict(start_epoch=116.0, end_epoch=None)
    assert tl.heal_window(journal) == (16.0, None)
    del journal["workload"]["started_epoch"]
    assert tl.heal_window(journal) is None


def test_per_second_coerces_and_skips_what_it_cannot_use():
    journal = {"workload": {"per_second": [
        {"t": 2, "ok": 3, "failed": 1, "indeterminate": None, "p99_ms": None},
        {"t": "1", "ok": "4", "p99_ms": "12.5", "pings_failed": 2},
        {"ok": 9}, None,
    ]}}
    rows = tl.per_second(journal)
    assert [r["t"] for r in rows] == [1.0, 2.0]
    assert rows[0]["ok"] == 4.0 and rows[0]["p99_ms"] == 12.5 and rows[0]["pings_failed"] == 2
    assert rows[1]["indeterminate"] == 0.0 and rows[1]["p99_ms"] is None


def _panel_axes(journal):
    fig = Figure()
    ax = fig.subplots()
    tl.draw_panel(ax, "/x/journal.json", journal, None)
    return ax, fig.axes


def test_latency_goes_to_a_log_scale_only_past_a_ratio_of_50():
    ax, axes = _panel_axes(full_journal(p99=lambda t: 10.0 + t))  # 10 .. 49: linear
    assert len(axes) == 2 and axes[1].get_yscale() == "linear"
    _, axes = _panel_axes(full_journal(p99=lambda t: 5000.0 if 10 <= t < 20 else 10.0))
    assert axes[1].get_yscale() == "log"
    assert ax.get_title(loc="left") == "kill_node — PASS"
    assert ax.get_title(loc="right") == "system under test: not recorded"


@pytest.mark.parametrize(("sut", "line"), [
    ({"test_double": True, "version": "1.0.0-double", "topology": "3 replicas x 3 nodes"},
     "system under test: the FaunaDB test double 1.0.0-double, 3 replicas x 3 nodes"
     " (a rehearsal of the automation)"),
    ({"test_double": False, "version": "25.02.07", "topology": "3 replicas x 1 node"},
     "system under test: FaunaDB 25.02.07, 3 replicas x 1 node"),
])
def test_each_panel_names_the_system_under_test(sut, line):
    ax, _ = _panel_axes(dict(full_journal(), system_under_test=sut))
    assert ax.get_title(loc="right") == line
    assert ax.get_xlabel() == "seconds since the workload started"
    texts = [t.get_text() for t in ax.texts]
    assert "kill · killed\nreplica2_node1" in texts and "heal" in texts


def test_bars_are_stacked_ok_failed_indeterminate():
    ax, _ = _panel_axes(full_journal())
    bars = [p for p in ax.patches if p.get_x() == 12 and p.get_width() == pytest.approx(0.9)]
    # (bottom, height) of ok, failed, indeterminate at t=12
    assert [(b.get_y(), b.get_height()) for b in bars] == [(0, 12), (12, 5), (17, 3)]


def test_failed_pings_are_marked_only_when_present():
    ax, _ = _panel_axes(full_journal())
    markers = [line for line in ax.lines if line.get_marker() == "v"]
    assert len(markers) == 1 and len(markers[0].get_xdata()) == 10
    journal = full_journal()
    for row in journal["workload"]["per_second"]:
        del row["pings"], row["pings_failed"]
    ax, _ = _panel_axes(journal)
    assert not [line for line in ax.lines if line.get_marker() == "v"]


def test_check_mode_writes_nothing_and_follows_file_times(tmp_path, capsys):
    journal = write(tmp_path / "run" / "journal.json", full_journal())
    dest = tmp_path / "timeline.png"
    result = call(capsys, check_mode=True, journals=[journal], dest=str(dest))
    assert result["changed"] is True and not dest.exists()
    assert result["panels"][0]["seconds"] == 40
    assert sorted(os.listdir(tmp_path)) == ["run"]

    call(capsys, journals=[journal], dest=str(dest))
    os.utime(journal, (1000, 1000))
    written = dest.read_bytes()
    assert call(capsys, check_mode=True, journals=[journal], dest=str(dest))["changed"] is False
    os.utime(journal, (dest.stat().st_mtime + 10,) * 2)
    assert call(capsys, check_mode=True, journals=[journal], dest=str(dest))["changed"] is True
    assert dest.read_bytes() == written


def test_without_matplotlib_it_fails_naming_the_package(tmp_path, capsys):
    journal = write(tmp_path / "run" / "journal.json", full_journal())
    with mock.patch.object(faunadb_chaos_timeline, "HAS_MATPLOTLIB", False):
        result = call(capsys, journals=[journal], dest=str(tmp_path / "t.png"))
    assert result["failed"] is True
    assert "matplotlib" in result["msg"] and "requirements.txt" in result["msg"]
    assert not (tmp_path / "t.png").exists()


def test_bad_destinations_and_empty_input_fail_cleanly(tmp_path, capsys):
    journal = write(tmp_path / "run" / "journal.json", full_journal())
    result = call(capsys, journals=[journal], dest=str(tmp_path / "nope" / "t.png"))
    assert result["failed"] is True and "is missing or not writable" in result["msg"]
    result = call(capsys, journals=[journal], dest=str(tmp_path))
    assert result["failed"] is True and "is a directory" in result["msg"]
    result = call(capsys, journals=[], dest=str(tmp_path / "t.png"))
    assert result["failed"] is True and "journals is empty" in result["msg"]


def test_a_failed_write_keeps_the_old_png_and_leaves_no_temp_file(tmp_path, capsys):
    journal = write(tmp_path / "run" / "journal.json", full_journal())
    dest = tmp_path / "timeline.png"
    dest.write_bytes(b"old")
    with mock.patch.object(Figure, "savefig", side_effect=OSError(28, "No space left")):
        result = call(capsys, journals=[journal], dest=str(dest))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Cannot draw the timeline into {dest}: OSError")
    assert dest.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["run", "timeline.png"]


def test_a_key_found_not_linearizable_is_marked_over_its_smallest_failing_window():
    journal = full_journal()
    journal["workload"]["linearizability"] = {"ok": False, "keys": {
        "7001": {"linearizable": True, "operations": 40, "info": 0},
        "7002": {"linearizable": False, "operations": 40, "info": 1,
                 "window": {"start": 12.5, "end": 14.25, "ops": [3, 9]}},
    }}
    ax, _ = _panel_axes(journal)
    marks = [p for p in ax.patches if p.get_hatch() == "xx"]
    assert len(marks) == 1
    x0 = marks[0].get_x()
    assert (x0, x0 + marks[0].get_width()) == (12.5, 14.25)
    assert "not linearizable\nkey 7002" in [t.get_text() for t in ax.texts]
    assert tl.summary("/x/journal.json", journal, None)["not_linearizable"] == ["7002"]


def test_linearizable_or_unchecked_registers_mark_nothing():
    journal = full_journal()
    journal["workload"]["linearizability"] = {"ok": True, "keys": {
        "7001": {"linearizable": True}, "7002": {"linearizable": None, "gave_up": "timeout"}}}
    ax, _ = _panel_axes(journal)
    assert not [p for p in ax.patches if p.get_hatch() == "xx"]
    assert tl.violations(journal) == [] and tl.violations({"workload": None}) == []
