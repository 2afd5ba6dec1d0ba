"""faunadb_node_files: the launcher check and the node's own files, on a local node."""

from __future__ import annotations

import json
import os

import faunadb_node_files
from ansible.module_utils.faunadb_executor import LocalExecutor


def spec(tmp_path, name, content, **extra):
    ids = dict(owner_id=os.getuid(), group_id=os.getgid())
    return dict(path=str(tmp_path / name), content=content, **ids, **extra)


def test_files_are_written_once_and_check_mode_only_predicts(run_module, tmp_path):
    files = [spec(tmp_path, "a.yml", "x: 1\n", mode="0640"), spec(tmp_path, "skew", "+0\n")]
    check = run_module(faunadb_node_files, dict(files=files), LocalExecutor(), check_mode=True)
    assert check.result["changed"] is True and not (tmp_path / "a.yml").exists()

    first = run_module(faunadb_node_files, dict(files=files), LocalExecutor(), diff=True)
    assert first.result["written"] == [f["path"] for f in files]
    # The content never shows (faunadb.yml holds the root key's hash), not even in the diff.
    assert first.result["diff"][0]["after_header"] == files[0]["path"]
    assert "x: 1" not in json.dumps(first.result)
    assert (tmp_path / "a.yml").read_text() == "x: 1\n"
    assert oct((tmp_path / "a.yml").stat().st_mode & 0o777) == "0o640"

    again = run_module(faunadb_node_files, dict(files=files), LocalExecutor())
    assert (again.result["changed"], again.result["written"]) == (False, [])


def test_a_differing_file_is_replaced_unless_force_is_false(run_module, tmp_path):
    (tmp_path / "a.yml").write_text("old\n")
    (tmp_path / "skew").write_text("+120\n")
    os.chmod(tmp_path / "a.yml", 0o644)
    files = [spec(tmp_path, "a.yml", "new\n"), spec(tmp_path, "skew", "+0\n", force=False)]
    run = run_module(faunadb_node_files, dict(files=files), LocalExecutor())
    assert run.result["written"] == [files[0]["path"]]
    assert (tmp_path / "skew").read_text() == "+120\n"
    # The mode alone differs: written too.
    files[0]["mode"] = "0600"
    assert run_module(faunadb_node_files, dict(files=files), LocalExecutor()).result["changed"]


def test_a_missing_path_fails_before_anything_is_written(run_module, tmp_path):
    args = dict(
        paths=[str(tmp_path / "bin" / "faunadb")],
        hint="Use a release.",
        files=[spec(tmp_path, "a.yml", "x\n")],
    )
    run = run_module(faunadb_node_files, args, LocalExecutor())
    assert run.failed and "Use a release." in run.result["msg"]
    assert not (tmp_path / "a.yml").exists()
