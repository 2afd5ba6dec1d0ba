#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_workload
short_description: Run a paced, bounded FaunaDB workload and verify its writes afterwards
description:
  - Live traffic for chaos scenarios, through the C(faunadb) Python driver against O(url) (the load
    balancer, or one node).
  - O(action=run) sends requests at a fixed O(rate), open loop - request I leaves at start + I /
    O(rate) (never early) whatever is still outstanding, so a stalled cluster sees the same
    offered load and the run shows, second by second, what succeeded and what hung - until
    O(duration) seconds have passed or O(max_requests) requests were due, whichever comes first.
    Each request runs on a thread of its own connection, at most O(max_in_flight) at once; a
    request due while that many are outstanding is not sent and is counted (C(skipped),
    C(per_second) C(not_sent)).
  - Writes create documents in O(collection) with ids the client chooses (O(run_id) followed by
    the request's number on 7 digits), so a write that something replayed shows up as a
    duplicate, never as a silent second document. A share O(read_ratio) of the requests are
    reads of one of the 32 most recently acknowledged ids. The clients share the last
    transaction time they saw (C(X-Last-Seen-Txn)), as one application's would, so a read that
    misses an acknowledged write is a finding, not replication lag.
  - Every request is classified. C(ok). C(unavailable) - HTTP 503 with a FaunaDB code other than
    C(time out), or the connection could not be opened (nothing was sent). C(timeout) - no
    definite answer - no answer within O(request_timeout), HTTP 503 C(time out), 502 or 504
    from the load balancer, or the connection lost after the request was sent; a write that
    ended so is I(indeterminate), it may or may not have been applied. C(duplicate) - a create
    answered 400 C(instance already exists) for an id this run sent once (a replayed write).
    C(stale) - a read of an id acknowledged before the read was sent came back not found or
    with other data. C(other) - anything else.
  - While the run lasts, one more thread sends a write ping (C(GET /ping?scope=write) on O(url),
    no key) every O(ping_interval) seconds, paced like the requests (ping K is due at start + K
    times O(ping_interval); a ping still waiting delays the next, one more than half an interval
    late is skipped). A ping is ok on HTTP 200 only; a 503, another status, a timeout after
    O(request_timeout) or a refused or lost connection is a failed ping. Pings are no requests
    and count in none of the request counts.
  - The run writes O(journal) (every request with its send time C(t), C(kind), C(id),
    C(outcome) and C(latency_ms), every ping with C(t), C(ok), C(status), C(detail) and
    C(latency_ms), plus the summary) and, while it runs, rewrites O(progress_file) about once a
    second, so a playbook that started the module with C(async) and C(poll=0) can show
    progress. C(t) is seconds after the run's start; C(started_epoch) (in the summary and the
    journal's C(run)) is that start as seconds since the epoch, so C(started_epoch + t) is the
    wall time a request or ping was sent.
  - O(action=verify) reads the journal back and checks, in batches of 100 ids per query, which of
    the run's documents exist. An acknowledged write that is missing is lost (counted and named).
    A write without an acknowledgement that exists anyway is counted in
    C(indeterminate_applied), not as an error. Duplicates and stale reads come from the journal.
    The verification is added to the journal.
  - With O(windows), the verification also counts, for each window, the requests and pings
    sent within it (for example before, during and after the fault), see C(windows).
  - The secret never appears in the arguments logged, the result or the journal.
version_added: "0.1.0"
author: FaunaDB lab project
requirements:
  - The C(faunadb) Python driver (4.x, FQL v4) where the module runs - usually the controller,
    with C(ansible_python_interpreter) set to the project's venv.
options:
  action:
    description:
      - V(run) sends the workload and writes O(journal). V(verify) reads back every write of the
        run in O(journal), and fails when not all of them were checked within O(verify_timeout).
    type: str
    required: true
    choices: [run, verify]
  url:
    description:
      - API endpoint the requests go to, V(http://HOST:PORT) or V(https://HOST:PORT), no path. The
        load balancer (V(http://127.0.0.1:8443) for the local cluster) or one node's port 8443.
      - Exactly one of O(secret) and O(secret_file) is required with it.
    type: str
    required: true
  collection:
    description:
      - Collection the documents go to; created by O(action=run) when missing. O(action=verify)
        always checks the collection its journal names.
    type: str
    default: workload
  rate:
    description: Requests per second, all clients together.
    type: float
    default: 20
  duration:
    description: Seconds during which requests are sent. The run ends at most O(request_timeout)
      plus about 6 seconds later (the last answers).
    type: float
    default: 30
  max_requests:
    description: Most requests sent (at most 9999999); the run stops at whichever of this and
      O(duration) comes first.
    type: int
    default: 100000
  max_in_flight:
    description:
      - Most requests outstanding at once (1 to 1024), each on a thread with its own driver
        client and connection, made as needed. A request due while this many are outstanding
        is not sent (C(skipped)). It bounds what a stall costs the controller; at O(rate) with
        every request hanging for O(request_timeout), O(rate) times O(request_timeout) are
        outstanding.
    type: int
    default: 256
    aliases: [clients]
  registers:
    description:
      - Documents used as registers (0 to 16, V(0) for none), in the collection O(collection)
        followed by C(_registers). A share O(register_ratio) of the slots are register
        operations instead of requests - a read, a write of a value never written before, or
        a compare-and-set from the last value the run saw - each one FQL transaction; reads
        are sent to C(/linearized), so that FaunaDB runs them through its log (a plain
        read-only query is served from a snapshot and may be stale).
      - Their history (invocation, completion, result; C(info) for an operation without a
        definite answer) is checked for linearizability after the run with the Wing-Gong/Lowe
        search (C(faunadb_linearizability)), key by key; see RV(workload.linearizability).
        Register operations count in none of the request counts (RV(workload.registers) has
        their own, with their C(planned) and C(not_sent) slots).
    type: int
    default: 0
  register_ratio:
    description: Share of the slots that are register operations when O(registers) is above 0.
    type: float
    default: 0.3
  register_ops:
    description:
      - The register operations to mix (at least one) - half of them reads when V(read) is
        listed, the rest split evenly among the others.
      - The chaos role leaves V(cas) out on the test double, which does not make a
        compare-and-set one transaction.
    type: list
    elements: str
    choices: [read, write, cas]
    default: [read, write, cas]
  linearizability_timeout:
    description: Seconds the linearizability check of the history may take; keys it cannot
      decide by then are reported as undecided (and the check as not passed).
    type: float
    default: 60
  ledger:
    description:
      - File the run appends one JSON line to (its id and send time) for every write as soon as
        it is acknowledged, flushed at once, so that a run interrupted before it wrote O(journal)
        still says which writes were acknowledged. O(action=verify) reads it when the journal is
        missing.
    type: path
  read_ratio:
    description:
      - Share of the requests that are reads of a recently acknowledged id (0 up to, not
        including, 1). Until a write is acknowledged, a read turns into a write.
    type: float
    default: 0.2
  request_timeout:
    description:
      - Seconds one request may take. Sent to FaunaDB as C(X-Query-Timeout); the client gives up
        one second later if no answer came. A write that timed out is indeterminate.
    type: float
    default: 10
  run_id:
    description:
      - Prefix of the run's document ids, so runs never collide. 1 to 11 digits, no leading zero
        (FaunaDB document ids are string-encoded 64-bit integers). Defaults to the time in tenths
        of a second. Returned, and kept in the journal.
    type: str
  journal:
    description:
      - JSON file the run writes (every request, the summary) and the verification reads and
        completes. On the host the module runs on; its directory must exist.
    type: path
    required: true
  progress_file:
    description:
      - JSON file rewritten (atomically) about once a second during O(action=run), with the counts
        so far and a ready-made C(line); it says C(done=true) at the end. For a playbook that
        polls the module started with C(async) and C(poll=0).
    type: path
  ping_interval:
    description:
      - Seconds between two write pings during O(action=run); V(0) sends none. Each ping waits
        at most O(request_timeout) (connecting at most 3 seconds of it) and honours
        O(validate_certs).
    type: float
    default: 1.0
  windows:
    description:
      - Time windows O(action=verify) reports on separately (C(windows) in the result), in the
        order given. Each is a dict with exactly C(name) (a non-empty string), C(start_epoch)
        and C(end_epoch) (seconds since the epoch, C(end_epoch) not before C(start_epoch)). A
        request or ping is in a window when it was sent at or after C(start_epoch) and before
        C(end_epoch).
      - Only for O(action=verify); the module fails when O(action=run) is given windows. The
        journal must carry C(started_epoch) (journals of older versions do not).
    type: list
    elements: dict
extends_documentation_fragment:
  - faunadb.client
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - O(action=run) sends nothing and writes no file; it returns the plan (requests due, ids,
        longest possible run) and predicts C(changed=true). O(action=verify) reads as usual and
        does not write the journal.
  diff_mode:
    support: none
    details: The documents written are the workload itself; there is nothing to compare.
  idempotent:
    support: none
    details:
      - Every O(action=run) writes new documents (ids under a new O(run_id)) and reports
        C(changed=true); running the same load twice is the point. O(action=verify) only reads
        (C(changed=false)).
seealso:
  - module: faunadb_status
"""

EXAMPLES = r"""
# In a play on the controller (hosts: localhost, ansible_python_interpreter set to the venv's
# Python): start the workload before the fault, follow it while the fault runs, collect it,
# and after heal verify it.
- name: Start the workload through the load balancer
  faunadb_workload:
    action: run
    url: http://127.0.0.1:8443
    secret_file: "{{ playbook_dir }}/inventory/.secrets/fauna.root_key"
    rate: 40
    duration: 60
    max_requests: 5000
    journal: /tmp/chaos/workload.json
    progress_file: /tmp/chaos/workload.progress.json
  async: 120  # more than duration + request_timeout + 10
  poll: 0
  register: _workload_job

# ... inject the fault here ...

- name: Show the workload's progress (about once a second, until it is done)
  ansible.builtin.wait_for:
    path: /tmp/chaos/workload.progress.json
    search_regex: '"done": true'
    timeout: 1
  failed_when: false
  # One item a second or a little more. Once the run is done the items left are skipped (one
  # line each), so a few more than duration is enough; async_status waits for the rest.
  loop: "{{ range(0, 65) | list }}"
  loop_control:
    label: "{{ ((lookup('ansible.builtin.file', '/tmp/chaos/workload.progress.json',
      errors='ignore') or '{}') | from_json).line | default('starting') }}"
  when: not ((lookup('ansible.builtin.file', '/tmp/chaos/workload.progress.json',
    errors='ignore') or '{}') | from_json).done | default(false)

- name: Collect the workload's result
  ansible.builtin.async_status:
    jid: "{{ _workload_job.ansible_job_id }}"
  register: _workload
  until: _workload.finished
  retries: 30
  delay: 1

# ... heal here ...

- name: Read back every acknowledged write
  faunadb_workload:
    action: verify
    url: http://127.0.0.1:8443
    secret_file: "{{ playbook_dir }}/inventory/.secrets/fauna.root_key"
    journal: /tmp/chaos/workload.json
    verify_timeout: 60
  register: _verify

- name: No acknowledged write may be lost
  ansible.builtin.assert:
    that:
      - _verify.workload.lost_writes == 0
      - _verify.workload.duplicate_writes == 0
    fail_msg: "lost: {{ _verify.workload.lost_write_ids }}"

# With the fault's start and end (seconds since the epoch) recorded by the play:
- name: Verify, with counts before, during and after the fault
  faunadb_workload:
    action: verify
    url: http://127.0.0.1:8443
    secret_file: "{{ playbook_dir }}/inventory/.secrets/fauna.root_key"
    journal: /tmp/chaos/workload.json
    windows:
      - {name: before, start_epoch: "{{ _workload.workload.started_epoch }}",
         end_epoch: "{{ _fault_start }}"}
      - {name: during, start_epoch: "{{ _fault_start }}", end_epoch: "{{ _fault_end }}"}
      - {name: after, start_epoch: "{{ _fault_end }}", end_epoch: "{{ 2 ** 32 }}"}
  register: _verify_windows
"""

RETURN = r"""
action:
  description: The action run.
  returned: always
  type: str
  sample: run
run_id:
  description: Prefix of the run's document ids.
  returned: always
  type: str
  sample: "17645123456"
collection:
  description: Collection the run wrote to.
  returned: always
  type: str
  sample: workload
collection_created:
  description: Whether the run created the collection.
  returned: when O(action=run), not in check mode
  type: bool
  sample: false
journal:
  description: Path of the journal.
  returned: always
  type: str
  sample: /tmp/chaos/workload.json
plan:
  description: What the run does, as worked out before it starts.
  returned: when O(action=run)
  type: dict
  sample: {"url": "http://127.0.0.1:8443", "collection": "workload", "rate": 40.0,
    "duration": 6.0, "max_requests": 100000, "max_in_flight": 256, "read_ratio": 0.2,
    "request_timeout": 10.0, "ping_interval": 1.0, "planned_requests": 240,
    "planned_reads_at_most": 48,
    "planned_writes_at_least": 192, "ids": ["176451234560000000", "176451234560000239"],
    "seconds_at_most": 22.0}
workload:
  description:
    - The run's summary (the chaos journal's C(workload) evidence). C(requests) = C(ok) +
      C(failed) + C(indeterminate); C(requests) + C(skipped) = C(planned).
    - C(lost_writes) is V(null) after O(action=run) and filled in by O(action=verify).
  returned: when O(action=run) outside check mode, and O(action=verify)
  type: dict
  contains:
    requests:
      description: Requests sent (and answered, failed or given up on).
      type: int
    ok:
      description: Requests answered correctly.
      type: int
    failed:
      description: Requests with a definite failure (C(unavailable), C(duplicate), C(stale),
        C(other), and reads that timed out).
      type: int
    indeterminate:
      description: Writes without a definite answer (outcome C(timeout)).
      type: int
    skipped:
      description: Requests due that were not sent because O(max_in_flight) requests were
        outstanding.
      type: int
    acked_writes:
      description: Writes acknowledged (created).
      type: int
    lost_writes:
      description: Acknowledged writes missing at verification (V(null) before it).
      type: int
    lost_write_ids:
      description: The first 50 of them (the journal's verification has the same list).
      type: list
      elements: str
    duplicate_writes:
      description: Creates answered "instance already exists" (replayed writes).
      type: int
    stale_reads:
      description: Reads of an acknowledged id that came back not found or with other data.
      type: int
    outcomes:
      description: Requests per kind (V(write), V(read)) and outcome.
      type: dict
    latency_ms:
      description: C(p50), C(p99), C(max) and C(count) of the latency of the C(ok) requests, in
        milliseconds; C(latency_ms_by_kind) has the same per kind.
      type: dict
    per_second:
      description: One entry per second of the run (by send time), C(t), C(requests), C(ok),
        C(failed), C(indeterminate) (those that hung - no definite answer), C(p99_ms) (of the C(ok)
        requests, V(null) when none), C(not_sent) (due in that second, kept back by
        O(max_in_flight)), C(pings) and C(pings_failed) (write pings sent in that second).
      type: list
      elements: dict
    started_epoch:
      description: The run's start (C(t=0)) in seconds since the epoch; a request or ping was
        sent at C(started_epoch + t).
      type: float
    registers:
      description: Counts of the register operations (O(registers)) - C(operations), C(ok),
        C(fail) (certainly not applied), C(info) (no definite answer), the same per C(by_f),
        and C(ops), the operations mixed (O(register_ops)).
      type: dict
    linearizability:
      description:
        - When O(registers) is above 0, the verdict on their history - C(ok) (every key
          linearizable), and per key in C(keys) C(linearizable) (V(true), V(false), or V(null)
          when the check gave up), C(operations), C(info) and, when not linearizable, the
          smallest failing C(window) (C(start), C(end) in seconds since the run's start, the
          C(ops) involved) and C(first_bad) (the operation that cannot be placed); C(lines)
          says it per key in words. The history itself is the journal's C(register_history).
      type: dict
    pings:
      description:
        - The write pings (see O(ping_interval)). C(sent) = C(ok) + C(failed); C(skipped) were
          not sent because the previous ping was still waiting.
        - C(latency_ms) has C(p50), C(p99) and C(max) of every ping, answered or not (a ping
          that timed out counts the time until it gave up); C(failed_t) the C(t) of the first
          50 failed pings. Every ping is in the journal's C(pings).
      type: dict
  sample: {"requests": 240, "ok": 236, "failed": 1, "indeterminate": 3, "skipped": 0,
    "planned": 240, "writes": 192, "reads": 48, "acked_writes": 188, "duplicate_writes": 0,
    "stale_reads": 0, "lost_writes": 0, "latency_ms": {"p50": 6.1, "p99": 40.2, "max": 52.0,
    "count": 236}, "started_epoch": 1764512345.678, "pings": {"sent": 7, "ok": 5,
    "failed": 2, "skipped": 0, "latency_ms": {"p50": 2.1, "p99": 1004.0, "max": 1004.0},
    "failed_t": [3.0, 4.0]}, "per_second": [{"t": 0, "requests": 40, "ok": 40, "failed": 0,
    "indeterminate": 0, "p99_ms": 9.8, "not_sent": 0, "pings": 1, "pings_failed": 0}]}
verification:
  description:
    - What O(action=verify) found. C(complete) is false when some ids could not be checked in
      O(verify_timeout) (C(unverified)); the module then fails with this result.
    - C(indeterminate_applied) counts writes without an acknowledgement that exist anyway, by
      outcome in C(indeterminate_applied_by_outcome).
    - C(windows) is the same list as the result's C(windows).
  returned: when O(action=verify)
  type: dict
  sample: {"complete": true, "checked": 192, "unverified": 0, "acked_writes": 188,
    "lost_writes": 0, "lost_write_ids": [], "duplicate_writes": 0, "stale_reads": 0,
    "indeterminate_writes": 3, "indeterminate_applied": 1,
    "indeterminate_applied_by_outcome": {"timeout": 1}, "query_errors": {}, "last_error": null,
    "windows": [], "elapsed_s": 0.4, "verified_at": "2026-11-27T14:30:00.000Z"}
windows:
  description:
    - One entry per O(windows) item, in the same order, counting only the requests and pings
      sent in it (C(started_epoch + t) at or after C(start_epoch), before C(end_epoch)); empty
      without O(windows).
    - C(requests) = C(ok) + C(failed) + C(indeterminate), as in C(workload).
      C(write_success_pct) is 100 times C(acked_writes) / C(writes), to 2 decimals, V(null)
      without writes. C(latency_ms) has C(p50), C(p99) and C(max) of the C(ok) requests
      (V(null) when none). C(lost_writes) counts the acknowledged writes sent in the window that
      the verification found missing.
  returned: when O(action=verify)
  type: list
  elements: dict
  sample: [{"name": "during", "start_epoch": 1764512350.0, "end_epoch": 1764512360.0,
    "requests": 400, "ok": 380, "failed": 12, "indeterminate": 8, "writes": 320,
    "acked_writes": 300, "write_success_pct": 93.75, "reads": 80, "reads_ok": 80,
    "latency_ms": {"p50": 7.0, "p99": 950.2, "max": 1010.0}, "pings": 10, "pings_failed": 3,
    "lost_writes": 0}]
"""

import os
import time

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_linearizability import check_history, format_key_result
from ansible.module_utils.faunadb_linearizability_history import HistoryError
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_workload import Workload
from ansible.module_utils.faunadb_workload_client import (
    FAUNADB_IMPORT_ERROR,
    HAS_FAUNADB,
    FaunaSession,
    client_argument_spec,
    ping_factory,
    session_factory,
)
from ansible.module_utils.faunadb_workload_journal import (
    JOURNAL_FORMAT,
    journal_from_ledger,
    load_journal,
    open_ledger,
    read_secret,
    utc_now,
    verified_workload,
    verify_journal,
    write_json,
)
from ansible.module_utils.faunadb_workload_schedule import (
    REGISTER_OPS,
    check_windows,
    default_run_id,
    plan,
    validate,
    validate_run_id,
)
from ansible.module_utils.faunadb_workload_stats import journal_started_epoch

ARGUMENT_SPEC = dict(
    action=dict(type="str", required=True, choices=["run", "verify"]),
    url=dict(type="str", required=True),
    collection=dict(type="str", default="workload"),
    rate=dict(type="float", default=20),
    duration=dict(type="float", default=30),
    max_requests=dict(type="int", default=100000),
    max_in_flight=dict(type="int", default=256, aliases=["clients"]),
    ledger=dict(type="path"),
    read_ratio=dict(type="float", default=0.2),
    request_timeout=dict(type="float", default=10),
    run_id=dict(type="str"),
    journal=dict(type="path", required=True),
    progress_file=dict(type="path"),
    ping_interval=dict(type="float", default=1.0),
    registers=dict(type="int", default=0),
    register_ratio=dict(type="float", default=0.3),
    register_ops=dict(type="list", elements="str", choices=list(REGISTER_OPS),
                      default=list(REGISTER_OPS)),
    linearizability_timeout=dict(type="float", default=60),
    # No suboptions: check_windows names the faulty windows[i].field, Ansible could not.
    windows=dict(type="list", elements="dict"),
    **client_argument_spec(),
)

# Run parameters kept in the journal: everything but the secret.
_RUN_KEYS = ("url", "collection", "rate", "duration", "max_requests", "max_in_flight",
             "read_ratio", "registers", "register_ratio", "register_ops",
             "request_timeout", "validate_certs", "ping_interval")


def _writable_dir(option, path):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise FaunaDBError(f"{option} {path}: directory {directory} is missing or not writable")


def run(module, params):
    run_id = validate_run_id(params["run_id"] or default_run_id())
    for option in ("journal", "progress_file"):
        if params[option]:
            _writable_dir(option, params[option])
    result = dict(changed=True, action="run", run_id=run_id, collection=params["collection"],
                  journal=params["journal"], plan=plan(params, run_id))
    if module.check_mode:
        return result
    secret = read_secret(module, params)
    connect = session_factory(params["url"], secret, params["collection"],
                              params["request_timeout"], params["validate_certs"])
    try:
        session = connect()
        result["collection_created"] = session.ensure_collection()
        if params["registers"]:
            session.ensure_registers()
    except Exception as exc:
        raise FaunaDBError(
            f"Cannot create or find collection {params['collection']!r} through "
            f"{params['url']}: {type(exc).__name__}: {exc}", **result
        ) from None
    workload = Workload(connect, run_id=run_id, rate=params["rate"],
                        duration=params["duration"], max_requests=params["max_requests"],
                        max_in_flight=params["max_in_flight"], read_ratio=params["read_ratio"],
                        request_timeout=params["request_timeout"],
                        ping=ping_factory(params["url"], params["request_timeout"],
                                          params["validate_certs"])
                        if params["ping_interval"] else None,
                        ping_interval=params["ping_interval"], registers=params["registers"],
                        register_ratio=params["register_ratio"],
                        register_ops=params["register_ops"])
    on_ack, close_ledger = None, None
    if params["ledger"]:
        try:
            on_ack, close_ledger = open_ledger(params["ledger"], {
                "run_id": run_id, "collection": params["collection"],
                "started_epoch": round(time.time(), 3)})
        except OSError as exc:
            raise FaunaDBError(f"Cannot write the ledger {params['ledger']}: {exc.strerror}",
                               **result) from None
        workload.on_ack = on_ack
    progress, progress_errors = None, []
    if params["progress_file"]:
        def progress(snapshot):
            try:
                write_json(params["progress_file"], snapshot)
            except OSError as exc:  # the run matters more than its progress report
                progress_errors.append(f"{exc.strerror}: {params['progress_file']}")
        progress(workload.progress())
    started = utc_now()
    try:
        summary, records = workload.run(on_progress=progress)
    finally:
        if close_ledger:
            close_ledger()
    journal = {
        "format": JOURNAL_FORMAT,
        "run": dict({k: params[k] for k in _RUN_KEYS}, run_id=run_id, started=started,
                    started_epoch=workload.started_epoch, ended=utc_now(),
                    collection_created=result["collection_created"]),
        "summary": summary,
        "requests": records,
        "pings": workload.pings,
        "not_sent": workload.not_sent,
        "register_history": workload.history,
        "verification": None,
    }
    if params["registers"]:
        summary["linearizability"] = linearizability(workload.history,
                                                     params["linearizability_timeout"])
    result["workload"] = summary
    try:
        write_json(params["journal"], journal)
    except OSError as exc:
        raise FaunaDBError(f"Cannot write the journal {params['journal']}: {exc}",
                           **result) from None
    if progress_errors:
        module.warn(f"progress_file not written {len(progress_errors)} times: "
                    f"{progress_errors[0]}")
    return result


def linearizability(history, timeout):
    """The register history's verdict, key by key, with one line of text per key."""
    try:
        checked = check_history(history, timeout_s=timeout)
    except HistoryError as exc:  # a bug of the workload's own making: say so, do not pass
        return {"ok": False, "error": str(exc), "keys": {}, "lines": [f"not checked: {exc}"]}
    checked["lines"] = [format_key_result(k, r) for k, r in sorted(checked["keys"].items())]
    checked["elapsed_s"] = round(checked["elapsed_s"], 3)
    return checked


def verify(module, params):
    # A run interrupted before it wrote its journal left its ledger: its acknowledged writes.
    journal = (journal_from_ledger(params["ledger"]) if params["ledger"]
               and not os.path.exists(params["journal"]) else None) or load_journal(
        params["journal"])
    run_info = journal.get("run") or {}
    result = dict(changed=False, action="verify", run_id=run_info.get("run_id"),
                  collection=run_info.get("collection"), journal=params["journal"])
    windows = check_windows(params["windows"])[0]
    if windows:
        journal_started_epoch(journal)  # before the queries, which may take verify_timeout
    secret = read_secret(module, params)
    session = FaunaSession(params["url"], secret, run_info.get("collection"),
                           params["request_timeout"], validate_certs=params["validate_certs"])
    verification = verify_journal(journal, session.exists_many, params["verify_timeout"],
                                  windows=windows)
    result.update(verification=verification, workload=verified_workload(journal, verification),
                  windows=verification["windows"])
    if not module.check_mode:
        journal["verification"] = verification
        write_json(params["journal"], journal)
    if not verification["complete"]:
        raise FaunaDBError(
            f"Verification incomplete: {verification['unverified']} of "
            f"{verification['unverified'] + verification['checked']} ids not checked within "
            f"{params['verify_timeout']:g} s (last error: {verification['last_error']})",
            **result,
        )
    return result


def run_or_verify(module):
    if not HAS_FAUNADB:
        raise FaunaDBError(missing_required_lib("faunadb"), exception=FAUNADB_IMPORT_ERROR)
    params = module.params
    validate(params)
    return (run if params["action"] == "run" else verify)(module, params)


def main():
    run_module(
        "faunadb_workload", run_or_verify,
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("secret", "secret_file")],
        required_one_of=[("secret", "secret_file")],
    )


if __name__ == "__main__":
    main()
