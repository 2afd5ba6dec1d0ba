"""faunadb_chaos_lock: one chaos run at a time per cluster, through main() on a tmp lock file."""

from __future__ import annotations

import json
import os
import stat
import time

import faunadb_chaos_lock
import pytest
from faunadb_module_testkit import run_module_main


def call(capsys, check_mode=False, diff=False, **args):
    return run_module_main(faunadb_chaos_lock, args, capsys, check_mode=check_mode,
                           diff=diff).result


@pytest.fixture
def lock_path(tmp_path):
    return tmp_path / "runs" / "cluster" / ".lock"


def write(path, **lock):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lock))


def held(path, owner, ttl=600, acquired=None):
    now = time.time()
    write(path, owner=owner, host="elsewhere", pid=1, acquired=acquired or now - 10,
          expires=now + ttl)


def content(path):
    return json.loads(path.read_text())


def test_acquire_creates_the_lock_and_its_directory(lock_path, capsys):
    before = time.time()
    result = call(capsys, path=str(lock_path), owner="run-a", ttl=900)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["owner"] == result["held_by"] == "run-a"
    assert result["took_over_from"] is None and result["previous"] is None
    lock = content(lock_path)
    assert lock["owner"] == "run-a" and lock["pid"] == os.getpid()
    assert lock["host"] and before <= lock["acquired"] <= time.time()
    assert lock["expires"] == pytest.approx(lock["acquired"] + 900, abs=1)
    assert result["expires"] == lock["expires"]
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock_path.parent.stat().st_mode) == 0o750
    assert [p.name for p in lock_path.parent.iterdir()] == [".lock"]


def test_same_owner_refreshes_expires_and_keeps_acquired(lock_path, capsys):
    held(lock_path, "run-a", ttl=5, acquired=1000.0)
    result = call(capsys, path=str(lock_path), owner="run-a", ttl=3600)
    assert result["changed"] is True and not result.get("failed")
    assert result["took_over_from"] is None
    lock = content(lock_path)
    assert lock["acquired"] == 1000.0
    assert lock["expires"] == pytest.approx(time.time() + 3600, abs=5)
    assert [p.name for p in lock_path.parent.iterdir()] == [".lock"]  # no temp file left


def test_other_owner_is_refused_with_a_clear_message(lock_path, capsys):
    held(lock_path, "run-a", ttl=600, acquired=1795600000.0)
    original = lock_path.read_text()
    result = call(capsys, path=str(lock_path), owner="run-b")
    assert result["failed"] is True
    msg = result["msg"]
    since = "since 2026-11-25 09:46:40 UTC, "
    assert msg.startswith(f"chaos lock {lock_path} is held by run-a {since}")
    assert " UTC, until " in msg and msg.count("UTC") == 2
    assert "(another chaos run on this cluster)" in msg
    assert "playbooks/heal.yml" in msg and "-e chaos_break_lock=true" in msg
    assert "Traceback" not in json.dumps(result)
    assert lock_path.read_text() == original


def test_expired_lock_is_taken_over(lock_path, capsys):
    held(lock_path, "run-a", ttl=-1)
    result = call(capsys, path=str(lock_path), owner="run-b", ttl=60)
    assert not result.get("failed"), result
    assert result["changed"] is True and result["took_over_from"] == "run-a"
    assert result["previous"]["owner"] == "run-a"
    assert content(lock_path)["owner"] == "run-b"


def test_force_takes_a_live_lock_over(lock_path, capsys):
    held(lock_path, "run-a")
    result = call(capsys, path=str(lock_path), owner="run-b", force=True)
    assert result["took_over_from"] == "run-a" and content(lock_path)["owner"] == "run-b"


@pytest.mark.parametrize("text", ["{not json", "[]", '{"owner": "run-a"}',
                                  '{"owner": "run-a", "expires": "soon"}', ""])
def test_corrupt_lock_counts_as_expired(lock_path, capsys, text):
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text(text)
    result = call(capsys, path=str(lock_path), owner="run-b")
    assert not result.get("failed"), result
    assert result["changed"] is True and result["took_over_from"] is None
    assert "could not be read or parsed" in json.dumps(result["warnings"])
    assert content(lock_path)["owner"] == "run-b"
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600


def test_corrupt_lock_is_released_by_anyone(lock_path, capsys):
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text("garbage")
    result = call(capsys, path=str(lock_path), owner="run-b", state="absent")
    assert result["changed"] is True and not lock_path.exists()


def test_release_by_owner(lock_path, capsys):
    held(lock_path, "run-a")
    result = call(capsys, path=str(lock_path), owner="run-a", state="absent")
    assert result["changed"] is True and result["held_by"] is None and result["expires"] is None
    assert not lock_path.exists()
    again = call(capsys, path=str(lock_path), owner="run-a", state="absent")
    assert again["changed"] is False and not again.get("failed")


def test_release_by_another_owner_is_a_no_op(lock_path, capsys):
    held(lock_path, "run-a")
    original = lock_path.read_text()
    result = call(capsys, path=str(lock_path), owner="run-b", state="absent")
    assert not result.get("failed"), result
    assert result["changed"] is False and result["held_by"] == "run-a"
    assert result["expires"] == content(lock_path)["expires"]
    assert lock_path.read_text() == original
    # No owner at all: same.
    assert call(capsys, path=str(lock_path), state="absent")["changed"] is False
    assert lock_path.exists()


def test_release_of_an_expired_lock_by_anyone(lock_path, capsys):
    held(lock_path, "run-a", ttl=-5)
    result = call(capsys, path=str(lock_path), state="absent")
    assert result["changed"] is True and not lock_path.exists()


def test_force_releases_whoever_holds_it(lock_path, capsys):
    held(lock_path, "run-a")
    result = call(capsys, path=str(lock_path), state="absent", force=True, diff=True)
    assert result["changed"] is True and not lock_path.exists()
    assert result["diff"]["before"]["owner"] == "run-a" and result["diff"]["after"] == {}


def test_check_mode_predicts_and_writes_nothing(lock_path, capsys):
    result = call(capsys, check_mode=True, diff=True, path=str(lock_path), owner="run-a")
    assert result["changed"] is True and result["held_by"] == "run-a"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["owner"] == "run-a"
    assert not lock_path.parent.exists()

    held(lock_path, "run-a", ttl=-1)
    original = lock_path.read_text()
    takeover = call(capsys, check_mode=True, path=str(lock_path), owner="run-b")
    assert takeover["changed"] is True and takeover["took_over_from"] == "run-a"
    release = call(capsys, check_mode=True, path=str(lock_path), owner="run-a", state="absent")
    assert release["changed"] is True
    assert lock_path.read_text() == original

    held(lock_path, "run-a")
    refused = call(capsys, check_mode=True, path=str(lock_path), owner="run-b")
    assert refused["failed"] is True and "is held by run-a" in refused["msg"]


def test_diff_shows_the_owners(lock_path, capsys):
    held(lock_path, "run-a", ttl=-1)
    result = call(capsys, diff=True, path=str(lock_path), owner="run-b")
    assert result["diff"]["before"]["owner"] == "run-a"
    assert result["diff"]["after"]["owner"] == "run-b"
    assert result["diff"]["after"]["expires"].endswith(" UTC")


def test_present_needs_an_owner_and_a_positive_ttl(lock_path, capsys):
    result = call(capsys, path=str(lock_path))
    assert result["failed"] is True and "owner" in result["msg"]
    result = call(capsys, path=str(lock_path), owner="run-a", ttl=0)
    assert result["failed"] is True and "ttl must be at least 1" in result["msg"]
    assert not lock_path.exists()


def test_lock_that_cannot_be_created_fails_cleanly(tmp_path, capsys):
    (tmp_path / "plain").write_text("a file where the lock's directory should be")
    result = call(capsys, path=str(tmp_path / "plain" / ".lock"), owner="run-a")
    assert result["failed"] is True
    assert result["msg"].startswith(f"Cannot create the chaos lock {tmp_path}/plain/.lock: ")
    assert "Traceback" not in json.dumps(result)


def test_a_directory_is_not_a_lock(tmp_path, capsys):
    result = call(capsys, path=str(tmp_path), owner="run-a")
    assert result["failed"] is True and "is a directory" in result["msg"]
