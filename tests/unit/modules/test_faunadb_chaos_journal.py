"""faunadb_chaos_journal: a journal written as the run goes, and interrupted runs closed."""

from __future__ import annotations

import json
from unittest import mock

import faunadb_chaos_journal
import pytest
from ansible.module_utils import faunadb_workload_journal as wl_journal
from ansible.module_utils import faunadb_workload_schedule as wl_schedule
from ansible.module_utils.faunadb_chaos_journal import INTERRUPTED, RUNNING, await_workload
from faunadb_module_testkit import run_module_main

RUN = "17966089"


def call(args, capsys, check_mode=False):
    return run_module_main(faunadb_chaos_journal, args, capsys, check_mode=check_mode).result


class Exists:
    """The cluster's answer to the read-back: every id but the missing ones exists."""

    def __init__(self, missing=()):
        self.missing = set(missing)
        self.asked = []

    def session(self, url, secret, collection, timeout, validate_certs=True):
        outer = self

        class Session:
            def exists_many(self, ids):
                outer.asked += list(ids)
                return [i not in outer.missing for i in ids]

        assert secret == "s3cr3t" and collection == "chaos"  # noqa: S105 - the test's key
        return Session()


@pytest.fixture
def reports(tmp_path):
    (tmp_path / "root_key").write_text("s3cr3t\n")
    (tmp_path / "root_key").chmod(0o600)
    return tmp_path


def started_run(reports, capsys, name="20261207T020124Z-kill_node", cluster="fauna"):
    run_dir = reports / name
    run_dir.mkdir()
    path = str(run_dir / "journal.json")
    out = call(dict(action="start", path=path, data={"scenario": "kill_node",
                                                     "cluster": cluster,
                                                     "targets": ["replica1_node1"]}), capsys)
    assert out["journal"]["status"] == RUNNING and out["journal"]["runtime"]["tool"]
    return run_dir, path


def recover_args(reports):
    return dict(action="recover", reports_dir=str(reports), cluster="fauna",
                url="http://127.0.0.1:8443", secret_file=str(reports / "root_key"))


def test_a_run_killed_mid_fault_is_closed_as_interrupted_with_its_writes_read_back(
        reports, capsys):
    run_dir, path = started_run(reports, capsys)
    call(dict(action="update", path=path, append={"phases_started": {
        "name": "kill_node", "fault": "killed", "start_epoch": 1796608906.3}}), capsys)
    # What the workload had acknowledged when the controller died: only its ledger.
    on_ack, close = wl_journal.open_ledger(str(run_dir / "workload.ledger.jsonl"),
                                   {"run_id": RUN, "collection": "chaos", "started_epoch": 1.0})
    ids = [wl_schedule.doc_id(RUN, i) for i in range(5)]
    for n, ident in enumerate(ids):
        on_ack({"id": ident, "t": n / 10})
    close()
    cluster = Exists(missing=[ids[3]])
    with mock.patch.object(faunadb_chaos_journal, "FaunaSession", cluster.session):
        out = call(recover_args(reports), capsys)
    assert out["changed"] is True
    (entry,) = out["recovered"]
    assert entry == {"dir": str(run_dir), "scenario": "kill_node", "acked_writes": 5,
                     "lost_writes": 1, "complete": True, "source": "ledger"}
    assert sorted(cluster.asked) == sorted(ids)  # every acknowledged write read back
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == INTERRUPTED and journal["verdict"] == INTERRUPTED
    assert journal["fault"]["start_epoch"] == 1796608906.3 and journal["fault"]["injected"]
    assert journal["fault"]["end_epoch"] >= journal["fault"]["start_epoch"]
    assert journal["workload"]["lost_write_ids"] == [ids[3]]
    assert journal["targets"] == ["replica1_node1"]  # what the start said stays
    report = (run_dir / "report.md").read_text()
    assert "INTERRUPTED" in report and "| 5 | 5 | 1 | True | ledger |" in report
    # Closed: a second heal finds nothing left to close.
    with mock.patch.object(faunadb_chaos_journal, "FaunaSession", cluster.session):
        assert call(recover_args(reports), capsys) == {"changed": False, "recovered": [],
                                                        "invocation": mock.ANY}


def test_recover_names_what_it_lacks_to_read_back_and_takes_the_secret_itself(reports, capsys):
    run_dir, _ = started_run(reports, capsys)
    on_ack, close = wl_journal.open_ledger(str(run_dir / "workload.ledger.jsonl"),
                                   {"run_id": RUN, "collection": "chaos", "started_epoch": 1.0})
    on_ack({"id": wl_schedule.doc_id(RUN, 0), "t": 0.1})
    close()
    args = recover_args(reports)
    del args["secret_file"]
    out = call(args, capsys)
    assert out["failed"] and out["msg"] == (
        f"{run_dir} was interrupted with a workload running: url and secret_file (or secret)"
        " are needed to read its writes back")
    cluster = Exists()
    with mock.patch.object(faunadb_chaos_journal, "FaunaSession", cluster.session):
        out = call(dict(args, secret="s3cr3t"), capsys)  # noqa: S106 - the test's key
    assert [r["acked_writes"] for r in out["recovered"]] == [1]
    assert "s3cr3t" not in json.dumps(out)


def test_recover_prefers_the_workload_journal_and_leaves_other_clusters_alone(reports, capsys):
    run_dir, _ = started_run(reports, capsys)
    other, _ = started_run(reports, capsys, "20261207T030000Z-pause_node", cluster="other")
    records = [{"i": 0, "kind": "write", "id": wl_schedule.doc_id(RUN, 0), "t": 0.1,
                "outcome": "ok", "latency_ms": 3.0}]
    wl_journal.write_json(str(run_dir / "workload.json"), {
        "format": wl_journal.JOURNAL_FORMAT, "run": {"run_id": RUN, "collection": "chaos"},
        "summary": {}, "requests": records, "pings": [], "verification": None})
    cluster = Exists()
    with mock.patch.object(faunadb_chaos_journal, "FaunaSession", cluster.session):
        out = call(recover_args(reports), capsys)
    assert [r["source"] for r in out["recovered"]] == ["workload.json"]
    assert json.loads((other / "journal.json").read_text())["status"] == RUNNING
    # No fault was injected before it died: the journal says so.
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["fault"]["injected"] is False


def test_check_mode_lists_and_touches_nothing(reports, capsys):
    run_dir, path = started_run(reports, capsys)
    before = (run_dir / "journal.json").read_text()
    with mock.patch.object(faunadb_chaos_journal, "FaunaSession",
                           side_effect=AssertionError("read back in check mode")):
        out = call(recover_args(reports), capsys, check_mode=True)
    assert [r["scenario"] for r in out["recovered"]] == ["kill_node"]
    assert (run_dir / "journal.json").read_text() == before


def test_a_closed_journal_is_not_written_again(reports, capsys):
    _, path = started_run(reports, capsys)
    call(dict(action="update", path=path, data={"status": "completed", "verdict": "pass"}),
         capsys)
    out = call(dict(action="update", path=path, data={"verdict": "fail"}), capsys)
    assert out["failed"] and "is completed, not running" in out["msg"]
    assert json.loads(open(path).read())["verdict"] == "pass"


def test_recover_waits_for_a_detached_workload_then_gives_up_at_its_planned_end(tmp_path):
    now = [1000.0]
    journal = {"workload_started": {"epoch": 990.0, "seconds_planned": 20.0,
                                    "request_timeout": 5.0}}

    def sleep(seconds):
        now[0] += seconds
        if now[0] >= 1010.0:  # the workload ends at 1010 and writes its journal
            (tmp_path / "workload.json").write_text("{}")

    assert await_workload(str(tmp_path), journal, "workload.json", clock=lambda: now[0],
                          sleep=sleep)
    assert 1010.0 <= now[0] < 1011.0
    (tmp_path / "workload.json").unlink()
    now[0] = 1000.0
    # Never written: waited for until 990 + 20 + 5 + 15, no longer.
    assert not await_workload(str(tmp_path), journal, "workload.json", clock=lambda: now[0],
                              sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert now[0] == pytest.approx(1030.0)
    assert not await_workload(str(tmp_path), {}, "workload.json")  # nothing to wait for
