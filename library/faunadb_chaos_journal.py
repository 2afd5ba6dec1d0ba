#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_chaos_journal
short_description: Write a chaos run's journal as the run goes, and close interrupted runs
description:
  - The journal (C(journal.json) in the run's folder) is written from the start of the run,
    not only at its end, so that a run killed mid-fault still leaves its evidence.
  - O(action=start) creates O(path) with O(data) (the experiment - scenario, cluster, targets,
    phases planned, expectations, system under test) plus C(status=running), C(started),
    C(started_epoch) and C(runtime) (tool, Ansible and Python versions, platform, node), as
    Chaos Toolkit's journal does.
  - O(action=update) sets the top-level keys of O(data) and appends each value of O(append)
    to the top-level list of that name (a phase as it starts, say). A journal no longer
    running is left alone (the task fails).
  - O(action=recover) finds, under O(reports_dir), the journals of O(cluster) still marked
    running - runs that were interrupted (the controller killed, say) - and closes each of
    them - C(status) and C(verdict) V(interrupted), the fault window (from the first phase's
    start to now, the heal), and every write the run's workload acknowledged read back through
    O(url) (from its C(workload.json), or, when the workload never wrote it, from the ledger
    C(workload.ledger.jsonl) it appended each acknowledgement to), with the lost-write count;
    and writes a short C(report.md). The workload runs detached and outlives a killed
    controller, so each run's is waited for first, at most until its planned end plus its request
    timeout and 15 s. Run it once the cluster is healed and no chaos run is
    active (playbooks/heal.yml, and a scenario right after it took the cluster's lock).
version_added: "0.6.0"
author: FaunaDB lab project
requirements:
  - The C(faunadb) Python driver where the module runs, for O(action=recover).
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [start, update, recover]
  path:
    description: The run's C(journal.json). Required with O(action=start) and O(action=update).
    type: path
  data:
    description: Top-level keys and values to write (O(action=start), O(action=update)).
    type: dict
    default: {}
  append:
    description: With O(action=update), top-level list name to the item appended to it.
    type: dict
    default: {}
  reports_dir:
    description: With O(action=recover), the folder holding the runs' folders.
    type: path
  cluster:
    description: With O(action=recover), the cluster whose interrupted runs are closed.
    type: str
  url:
    description: With O(action=recover), the API endpoint (the load balancer) the writes are read
      back through, with O(secret_file) (or O(secret)); the two are needed only when an
      interrupted run has writes to read back.
    type: str
  healed_by:
    description: Who closes the interrupted runs, for the record.
    type: str
    default: playbooks/heal.yml
extends_documentation_fragment:
  - faunadb.client
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - V(start) and V(update) report the change and write nothing. V(recover) lists the runs it
        would close (RV(recovered)) without reading anything back or writing.
  diff_mode:
    support: none
    details:
      - The journal is evidence written once per step, not state to converge; RV(journal) is
        what was written.
  idempotent:
    support: partial
    details:
      - V(recover) is idempotent (a closed run is no longer running). V(start) rewrites the
        journal and V(update) always changes it (C(updated_epoch)).
seealso:
  - module: faunadb_workload
  - module: faunadb_chaos_lock
"""

EXAMPLES = r"""
- name: Start the journal of this run
  faunadb_chaos_journal:
    action: start
    path: "{{ run_dir }}/journal.json"
    data: {scenario: kill_node, cluster: fauna, targets: [replica1_node1]}

- name: Note a phase as it starts
  faunadb_chaos_journal:
    action: update
    path: "{{ run_dir }}/journal.json"
    append: {phases_started: {name: kill_node, start_epoch: 1796608906.3}}

- name: Close the runs an interruption left open
  faunadb_chaos_journal:
    action: recover
    reports_dir: "{{ playbook_dir }}/../reports"
    cluster: fauna
    url: http://127.0.0.1:8443
    secret_file: inventory/.secrets/fauna.root_key
"""

RETURN = r"""
journal:
  description: The journal as written (O(action=start) and O(action=update)).
  returned: when O(action=start) or O(action=update), outside check mode
  type: dict
recovered:
  description: The interrupted runs closed (in check mode, that would be closed) - C(dir),
    C(scenario), C(acked_writes), C(lost_writes), C(complete) (every acknowledged write
    checked), C(source) (V(workload.json), V(ledger) or V(none)).
  returned: when O(action=recover)
  type: list
  elements: dict
  sample: [{"dir": "/work/reports/20261207T020124Z-kill_node", "scenario": "kill_node",
    "acked_writes": 161, "lost_writes": 0, "complete": true, "source": "ledger"}]
"""

import os

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.faunadb_chaos_journal import (
    await_workload,
    close_interrupted,
    load,
    running,
    start,
    update,
)
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_workload_client import (
    HAS_FAUNADB,
    FaunaSession,
    client_argument_spec,
)
from ansible.module_utils.faunadb_workload_journal import (
    journal_from_ledger,
    load_journal,
    read_secret,
    verify_journal,
)

LEDGER = "workload.ledger.jsonl"
WORKLOAD = "workload.json"


def _workload_of(run_dir):
    """(workload journal, where it came from) of an interrupted run, or (None, 'none')."""
    path = os.path.join(run_dir, WORKLOAD)
    if os.path.exists(path):
        return load_journal(path), WORKLOAD
    journal = journal_from_ledger(os.path.join(run_dir, LEDGER))
    return (journal, "ledger") if journal else (None, "none")


def recover(module, params):
    paths = running(params["reports_dir"], params["cluster"])
    recovered = []
    secret = None
    for path in paths:
        run_dir = os.path.dirname(path)
        journal = load(path)
        entry = {"dir": run_dir, "scenario": journal.get("scenario")}
        recovered.append(entry)
        if module.check_mode:
            continue
        finished = await_workload(run_dir, journal, WORKLOAD)
        workload, source = _workload_of(run_dir)
        if workload is None:
            verification = {"complete": True, "checked": 0, "acked_writes": 0, "lost_writes": 0,
                            "lost_write_ids": []}
        else:
            if secret is None:
                if not params["url"] or not (params["secret"] or params["secret_file"]):
                    raise FaunaDBError(f"{run_dir} was interrupted with a workload running: "
                                       "url and secret_file (or secret) are needed to read its"
                                       " writes back")
                if not HAS_FAUNADB:
                    raise FaunaDBError(missing_required_lib("faunadb"))
                secret = read_secret(module, params)
            session = FaunaSession(params["url"], secret, workload["run"]["collection"], 10.0,
                                   validate_certs=params["validate_certs"])
            verification = verify_journal(workload, session.exists_many,
                                          params["verify_timeout"])
        summary = {"acked_writes": verification["acked_writes"],
                   "checked": verification["checked"],
                   "lost_writes": verification["lost_writes"],
                   "lost_write_ids": verification["lost_write_ids"],
                   "verified": verification["complete"], "source": source,
                   "workload_finished": finished,
                   "journal": WORKLOAD if source == WORKLOAD else None, "ledger": LEDGER}
        close_interrupted(path, journal, verification, summary, params["healed_by"])
        entry.update(acked_writes=summary["acked_writes"], lost_writes=summary["lost_writes"],
                     complete=summary["verified"], source=source)
    return dict(changed=bool(recovered), recovered=recovered)


ARGUMENT_SPEC = dict(
    action=dict(type="str", required=True, choices=["start", "update", "recover"]),
    path=dict(type="path"),
    data=dict(type="dict", default={}),
    append=dict(type="dict", default={}),
    reports_dir=dict(type="path"),
    cluster=dict(type="str"),
    url=dict(type="str"),
    healed_by=dict(type="str", default="playbooks/heal.yml"),
    **client_argument_spec(),
)


def act(module):
    params = module.params
    try:
        if params["action"] == "recover":
            return recover(module, params)
        if module.check_mode:
            return dict(changed=True)
        if params["action"] == "start":
            return dict(changed=True, journal=start(params["path"], params["data"],
                                                     ANSIBLE_VERSION))
        return dict(changed=True, journal=update(params["path"], params["data"],
                                                  params["append"]))
    except OSError as exc:
        raise FaunaDBError(f"Cannot write the chaos journal: {exc}") from None


def main():
    run_module(
        "faunadb_chaos_journal", act,
        argument_spec=ARGUMENT_SPEC,
        required_if=[
            ("action", "start", ["path"]),
            ("action", "update", ["path"]),
            ("action", "recover", ["reports_dir", "cluster"]),
        ],
        mutually_exclusive=[("secret", "secret_file")],
    )


if __name__ == "__main__":
    main()
