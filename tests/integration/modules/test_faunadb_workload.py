"""faunadb_workload through ansible-playbook against a 3 x 1 loopback cluster of the double.

The playbook does what a chaos playbook will: plan the run in check mode,
start it with async/poll 0, print its progress about once a second from the
progress file while the test SIGKILLs one node halfway (3 data+log replicas
keep their majority), collect the result and read every acknowledged write
back. A second playbook verifies a journal that claims a write the cluster
never saw (it must be reported lost, by id) and one that timed out but was
applied (indeterminate, not an error). No nginx here: `url` is one node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import yaml
from faunadb_double.testing import FAST_TIMINGS, LoopbackCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from faunadb import query as q
    from faunadb.client import FaunaClient
    from faunadb.errors import BadRequest


class _Client(FaunaClient):
    def check_new_version(self):
        """No pypi lookup (it has no timeout)."""

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
VENV_BIN = os.path.dirname(sys.executable)
RATE, DURATION = 40, 6
RUN_ID = "20261127"
KILL_AFTER_S = DURATION / 2 - 0.5  # the progress file's clock moves by about 1 s

PLAYBOOK = textwrap.dedent("""\
    - name: Workload under a fault
      hosts: localhost
      gather_facts: false
      vars:
        _progress: "{{ wl_dir }}/progress.json"
        _args: &args
          url: "{{ wl_url }}"
          secret_file: "{{ wl_dir }}/root_key"
          journal: "{{ wl_dir }}/journal.json"
      tasks:
        - name: Plan the workload
          faunadb_workload:
            <<: *args
            action: run
            rate: %(rate)s
            duration: %(duration)s
          check_mode: true
          register: _plan

        - name: Start the workload
          faunadb_workload:
            <<: *args
            action: run
            rate: %(rate)s
            duration: %(duration)s
            run_id: "%(run_id)s"
            request_timeout: 3
            progress_file: "{{ _progress }}"
          async: 60
          poll: 0
          register: _job

        - name: Show the workload's progress
          ansible.builtin.wait_for:
            path: "{{ _progress }}"
            search_regex: '"done": true'
            timeout: 1
          failed_when: false
          loop: "{{ range(0, %(duration)s + 3) | list }}"
          loop_control:
            label: "{{ ((lookup('ansible.builtin.file', _progress, errors='ignore')
              or '{}') | from_json).line | default('starting') }}"
          when: not ((lookup('ansible.builtin.file', _progress, errors='ignore')
            or '{}') | from_json).done | default(false)

        - name: Collect the workload's result
          ansible.builtin.async_status:
            jid: "{{ _job.ansible_job_id }}"
          register: _run
          until: _run.finished
          retries: 30
          delay: 1

        - name: Read back every acknowledged write
          faunadb_workload:
            <<: *args
            action: verify
            verify_timeout: 20
          register: _verify

        - name: Keep the results for the test
          ansible.builtin.copy:
            content: "{{ {'plan': _plan, 'run': _run, 'verify': _verify} | to_json }}"
            dest: "{{ wl_dir }}/results.json"
            mode: "0600"
    """) % {"rate": RATE, "duration": DURATION, "run_id": RUN_ID}

VERIFY_PLAYBOOK = textwrap.dedent("""\
    - name: Verify a journal
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Read back every acknowledged write
          faunadb_workload:
            action: verify
            url: "{{ wl_url }}"
            secret_file: "{{ wl_dir }}/root_key"
            journal: "{{ wl_dir }}/journal.json"
            verify_timeout: 20
          register: _verify

        - name: Keep the result for the test
          ansible.builtin.copy:
            content: "{{ _verify | to_json }}"
            dest: "{{ wl_dir }}/verify.json"
            mode: "0600"

        - name: No acknowledged write may be lost
          ansible.builtin.assert:
            that: _verify.workload.lost_writes == 0
            fail_msg: "lost: {{ _verify.workload.lost_write_ids }}"
    """)


def _playbook(tmp_path, text, url):
    (tmp_path / "play.yml").write_text(text)
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "wl_dir": str(tmp_path), "wl_url": url}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_ASYNC_DIR": str(tmp_path / "async")}
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
            str(tmp_path / "play.yml")]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def cluster():
    with LoopbackCluster(3, 1, env=FAST_TIMINGS, subnet=20 + (os.getpid() + 57) % 200) as c:
        c.start_all()
        c.form()
        yield c


@pytest.fixture
def workdir(tmp_path, cluster):
    secret = tmp_path / "root_key"
    secret.write_text(cluster.root_key + "\n")
    secret.chmod(0o600)
    return tmp_path


def test_workload_through_a_node_kill_then_every_acknowledged_write_is_there(cluster, workdir):
    url = f"http://{cluster.nodes[0].address}:8443"
    victim = cluster.nodes[2]
    started = time.monotonic()
    proc = _playbook(workdir, PLAYBOOK, url)
    killed_at = None
    try:
        while proc.poll() is None and time.monotonic() - started < 90:
            try:
                progress = json.loads((workdir / "progress.json").read_text())
            except (OSError, ValueError):
                progress = {}
            if killed_at is None and progress.get("elapsed_s", 0) >= KILL_AFTER_S:
                cluster.kill(victim)
                killed_at = progress["elapsed_s"]
            time.sleep(0.1)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - started
    print(out[-4000:])
    assert proc.returncode == 0, out[-6000:]
    assert killed_at is not None and killed_at < DURATION, f"no kill during the run: {killed_at}"
    assert not victim.running

    results = json.loads((workdir / "results.json").read_text())
    plan = results["plan"]
    assert plan["changed"] is True and "workload" not in plan
    assert plan["plan"]["planned_requests"] == RATE * DURATION

    run, verify = results["run"], results["verify"]
    w = run["workload"]
    print(f"playbook {took:.1f} s; kill at {killed_at} s; " + json.dumps(
        {k: w[k] for k in ("requests", "ok", "failed", "indeterminate", "skipped",
                           "acked_writes", "duplicate_writes", "stale_reads", "latency_ms")}))
    assert run["changed"] is True and run["run_id"] == RUN_ID
    assert w["requests"] == w["ok"] + w["failed"] + w["indeterminate"]
    assert w["requests"] + w["skipped"] == w["planned"] == RATE * DURATION
    assert w["acked_writes"] > 0.7 * w["requests"]
    assert w["ok"] >= 0.95 * w["requests"], w["outcomes"]  # the majority survived
    assert w["duplicate_writes"] == 0 and w["stale_reads"] == 0
    assert DURATION <= len(w["per_second"]) <= DURATION + 1
    assert sum(s["requests"] for s in w["per_second"]) == w["requests"]
    # Seconds with requests due: a last bucket may hold only a write ping sent after them.
    after_kill = [s for s in w["per_second"] if killed_at < s["t"] < DURATION]
    assert after_kill and all(s["ok"] > 0 for s in after_kill), w["per_second"]

    # Progress was printed while it ran: several distinct lines with counts.
    lines = {line for line in out.splitlines()
             if "(item=" in line and " requests answered, " in line}
    assert len(lines) >= 3, out[-4000:]

    v = verify["verification"]
    assert verify["changed"] is False
    assert v["complete"] is True and v["checked"] == w["writes"]
    assert v["lost_writes"] == 0 and verify["workload"]["lost_writes"] == 0
    assert verify["workload"]["acked_writes"] == w["acked_writes"]

    journal = json.loads((workdir / "journal.json").read_text())
    assert journal["verification"] == v
    assert len(journal["requests"]) == w["requests"]
    first = journal["requests"][0]
    assert {"t", "kind", "id", "outcome", "latency_ms"} <= set(first)
    assert cluster.root_key not in (workdir / "journal.json").read_text()
    assert cluster.root_key not in out


def test_verify_names_a_lost_write_and_counts_an_applied_timeout(cluster, workdir):
    url = f"http://{cluster.nodes[0].address}:8443"
    client = _Client(secret=cluster.root_key, domain=cluster.nodes[0].address, port=8443,
                     scheme="http", query_timeout_ms=5000)
    run_id = "20261128"
    written = [f"{run_id}{i:07d}" for i in range(3)]
    coll = q.collection("workload")
    try:
        client.query(q.create_collection({"name": "workload"}))
    except BadRequest:  # the first test made it
        pass
    for ident in written:
        client.query(q.create(q.ref(coll, ident), {"data": {"run": run_id}}))
    never = f"{run_id}0000009"
    outcomes = {written[0]: "ok", written[1]: "ok", written[2]: "timeout", never: "ok",
                f"{run_id}0000010": "timeout"}
    requests = [{"i": i, "client": 0, "kind": "write", "id": ident, "t": i * 0.1,
                 "late_ms": 0.0, "latency_ms": 5.0, "outcome": outcome}
                for i, (ident, outcome) in enumerate(outcomes.items())]
    journal = {"format": "faunadb_workload/1",
               "run": {"run_id": run_id, "collection": "workload"},
               "summary": {"requests": 5, "acked_writes": 3}, "requests": requests,
               "verification": None}
    (workdir / "journal.json").write_text(json.dumps(journal))

    proc = _playbook(workdir, VERIFY_PLAYBOOK, url)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out  # the assert task fails...
    assert f"lost: ['{never}']" in out  # ...and names the write
    result = json.loads((workdir / "verify.json").read_text())
    v = result["verification"]
    assert (v["acked_writes"], v["lost_writes"], v["lost_write_ids"]) == (3, 1, [never])
    assert v["indeterminate_writes"] == 2
    assert v["indeterminate_applied"] == 1
    assert v["indeterminate_applied_by_outcome"] == {"timeout": 1}
    assert result["workload"]["lost_writes"] == 1
