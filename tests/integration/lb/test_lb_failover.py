"""The load balancer (roles/faunadb_lb) under node faults, on its own 3x1
cluster of the double (inventory.yml here: cluster lbtest, 127.0.0.1:18543).

In file order, on one module-scoped cluster torn down at the end:
- A configuration change is predicted in check mode, checked with nginx -t
  and applied with a reload (the container keeps running); one nginx refuses
  never replaces the running one; a second run changes nothing.
- (a) A paused (hung) node under a fixed-rate load of write pings and creates:
  no create is replayed on another node (that shows as 400 "instance already
  exists" for a client-chosen id sent once, or as a second document for a
  cluster-chosen id), no ping fails, and the hung node gets no new requests
  after about a second.
- Every node hung once: nginx asks them again afterwards rather than answer
  502 "no live upstreams" for the fail timeout.
- (b) Two of three replicas killed: read pings through the load balancer get
  the surviving node's own answer, write pings and creates the cluster's own
  503 (never an nginx 502/504); heal.yml brings the cluster back.

The measured numbers are printed (pytest -s shows them).
"""

from __future__ import annotations

import functools
import http.client
import json
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playbook_kit import ansible_playbook, recap

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INVENTORY = Path(__file__).with_name("inventory.yml")
CLUSTER = "lbtest"
LB = "lb_load_balancer"
LB_ADDRESS = ("127.0.0.1", 18543)
NODES = {  # container -> its address on the project network
    "lb_replica1_node1": "172.29.7.11",
    "lb_replica2_node1": "172.29.7.21",
    "lb_replica3_node1": "172.29.7.31",
}
COLLECTION = "lbtest"

# (a): 20 requests/s (write pings and creates in turn) for 17 s, one node
# paused from 3 s to 13 s.
RATE = 20
LOAD_SECONDS = 17
PAUSE_AT = 3.0
PAUSE_SECONDS = 10.0
SLOW = 1.5  # seconds; a request this slow counts as slow
# How long after the pause a request may still be sent to the hung node:
# nginx's ping read timeout (1 s) plus scheduling slack on a busy host.
DETECT_WITHIN = 1.5
# The double itself: until its failure detector marks the paused node down
# (3 s of silence, heartbeats 1 s apart), a create through a healthy node
# waits up to its peer timeout (2 s, +0.5 s) for the paused one.
CLUSTER_STALL = 3.0


def playbook(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return ansible_playbook(INVENTORY, *args, check=check)


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@dataclass
class Answer:
    kind: str
    start: float  # seconds since the load began
    end: float
    status: int  # 0: no answer (connection error or client timeout)
    code: str  # FaunaDB error code, "" on success or a non-JSON body
    n: int = 0  # request number, also the created document's data.n

    @property
    def seconds(self) -> float:
        return self.end - self.start


def request(
    address: tuple[str, int], method: str, path: str, body=None, timeout: float = 10.0
) -> tuple[int, str, dict | None]:
    """(status, FaunaDB error code, JSON body or None); status 0 when no answer came."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    headers = {"X-FaunaDB-API-Version": "4"}
    if body is not None:
        headers |= {"Authorization": f"Bearer {root_key()}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)  # fmt: skip
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException):
        return 0, "", None
    finally:
        conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        return resp.status, "", None  # nginx's own error pages are HTML
    code = doc.get("errors", [{}])[0].get("code", "") if isinstance(doc, dict) else ""
    return resp.status, code, doc


@functools.cache
def root_key() -> str:
    return (INVENTORY.parent / ".secrets" / f"{CLUSTER}.root_key").read_text().strip()


def ping(scope: str, address: tuple[str, int] = LB_ADDRESS) -> tuple[int, str, dict | None]:
    return request(address, "GET", f"/ping?scope={scope}")


def create_body(n: int, run: str, doc_id: str | None = None) -> dict:
    """q.create(q.ref(q.collection(C), ID), {"data": ...}) as the driver sends it,
    or with no ID q.create(q.collection(C), ...): the cluster chooses the id."""
    target = {"collection": COLLECTION}
    if doc_id is not None:
        target = {"ref": target, "id": doc_id}
    return {"create": target, "params": {"object": {"data": {"object": {"n": n, "run": run}}}}}


def documents() -> list[dict]:
    """Every document of the collection: Map(Paginate(Documents(C)), Lambda(r, Get(r)))."""
    status, _, doc = request(LB_ADDRESS, "POST", "/", {
        "map": {"lambda": "r", "expr": {"get": {"var": "r"}}},
        "collection": {"paginate": {"documents": {"collection": COLLECTION}}, "size": 100000},
    })  # fmt: skip
    assert status == 200, doc
    return [d["data"] for d in doc["resource"]["data"]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summary(answers: list[Answer]) -> str:
    seconds = [a.seconds for a in answers]
    return (
        f"{len(answers)} sent, failed {sum(a.status not in (200, 201) for a in answers)}"
        f" (no answer {sum(a.status == 0 for a in answers)}),"
        f" slower than {SLOW} s {sum(s > SLOW for s in seconds)},"
        f" p50 {percentile(seconds, 0.5):.3f} s, p99 {percentile(seconds, 0.99):.3f} s,"
        f" max {max(seconds, default=0):.3f} s"
    )


def run_load(run: str, fault) -> list[Answer]:
    """RATE requests/s for LOAD_SECONDS (bounded: RATE * LOAD_SECONDS requests),
    write pings and creates in turn, each on its own thread so a slow answer
    never delays the schedule. fault(t0) runs beside the load."""
    answers: list[Answer] = []
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(i: int) -> None:
        start = time.monotonic() - t0
        if i % 2 == 0:
            kind, (status, code, _) = "ping", ping("write")
        else:  # creates, every other one with an id of the client's choosing
            doc_id = f"{run}{i}" if i % 4 == 1 else None
            kind = "create" if doc_id else "create-auto"
            status, code, _ = request(LB_ADDRESS, "POST", "/", create_body(i, run, doc_id),
                                      timeout=30)  # fmt: skip
        with lock:
            answers.append(Answer(kind, start, time.monotonic() - t0, status, code, i))

    faulter = threading.Thread(target=fault, args=(t0,))
    faulter.start()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(RATE * LOAD_SECONDS):
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    faulter.join(timeout=60)
    return sorted(answers, key=lambda a: a.start)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    playbook("playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")
    playbook("site.yml")
    status, code, _ = request(LB_ADDRESS, "POST", "/",
                              {"create_collection": {"object": {"name": COLLECTION}}})  # fmt: skip
    assert status == 201 or code == "instance already exists"
    yield
    playbook("playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")


def started(name: str) -> str:
    return docker("inspect", "-f", "{{.State.StartedAt}}", name)


def test_config_change_is_checked_and_reloaded_without_a_restart():
    before = started(LB)
    conf = docker("exec", LB, "cat", "/etc/nginx/nginx.conf")
    proc = playbook("playbooks/load_balancer.yml", "--check", "-e", "faunadb_lb_read_timeout=61s")
    assert recap(proc.stdout)[LB]["changed"] > 0, "check mode predicted no change"
    assert docker("exec", LB, "cat", "/etc/nginx/nginx.conf") == conf
    proc = playbook("playbooks/load_balancer.yml", "-e", "faunadb_lb_read_timeout=61s")
    assert "RUNNING HANDLER [faunadb_lb : Reload load balancer]" in proc.stdout
    assert "61s;" in docker("exec", LB, "cat", "/etc/nginx/nginx.conf")
    # A configuration nginx refuses never replaces the running one.
    proc = playbook("playbooks/load_balancer.yml", "-e", "faunadb_lb_keepalive=0", check=False)
    assert proc.returncode != 0
    assert 'invalid value "0" in "keepalive"' in proc.stdout
    assert "keepalive 32;" in docker("exec", LB, "cat", "/etc/nginx/nginx.conf")
    assert ping("write")[0] == 200
    # Back to the inventory's settings, which a second run leaves alone.
    hosts = recap(playbook("playbooks/load_balancer.yml").stdout)
    assert hosts[LB]["changed"] > 0
    hosts = recap(playbook("playbooks/load_balancer.yml").stdout)
    assert hosts[LB]["changed"] == 0
    hosts = recap(playbook("playbooks/load_balancer.yml", "--check").stdout)
    assert hosts[LB]["changed"] == 0
    assert started(LB) == before, "the load balancer container was restarted"


def test_a_paused_node_costs_no_duplicates_and_is_left_out_within_a_second():
    victim = "lb_replica2_node1"
    marks: dict[str, float] = {}

    def fault(t0: float) -> None:
        time.sleep(PAUSE_AT)
        marks["pause"] = time.monotonic() - t0
        docker("pause", victim)
        marks["paused"] = time.monotonic() - t0
        time.sleep(PAUSE_SECONDS)
        marks["unpause"] = time.monotonic() - t0
        docker("unpause", victim)

    run = uuid.uuid4().hex[:8]
    try:
        answers = run_load(run, fault)
    finally:
        subprocess.run(["docker", "unpause", victim], capture_output=True, check=False)
    pings = [a for a in answers if a.kind == "ping"]
    creates = [a for a in answers if a.kind != "ping"]
    # A create replayed on a second node shows as the id "already existing"
    # (client ids) or as a second document with the same data (cluster ids).
    stored = Counter(d["n"] for d in documents() if d.get("run") == run)
    duplicates = [a for a in creates if a.code == "instance already exists" or stored[a.n] > 1]
    created = [a for a in creates if a.status == 201]
    unknown = [a for a in creates if a.status not in (201, 400)]
    missing = [a for a in created if stored[a.n] == 0]
    invented = set(stored) - {a.n for a in creates}
    pause, paused, unpause = marks["pause"], marks["paused"], marks["unpause"]
    # Held by the hung node: sent during the pause, answered only once it woke.
    held = [a for a in answers if a.start < unpause <= a.end and a.seconds > SLOW]
    held_late = [a for a in held if a.start > paused + DETECT_WITHIN]
    # Any other slow answer: a create that a healthy node kept waiting for its
    # paused peer until the double's failure detector marked the peer down.
    stalled = [a for a in answers if a.seconds > SLOW and a not in held]
    stalled_bad = [a for a in stalled if a.kind == "ping" or a.seconds > CLUSTER_STALL
                   or a.start > paused + CLUSTER_STALL + 2]  # fmt: skip
    print(
        f"\n(a) node {victim} paused at {pause:.2f}-{paused:.2f} s for {PAUSE_SECONDS:.0f} s,"
        f" unpaused at {unpause:.2f} s; {RATE} requests/s"
        f"\n  pings:   {summary(pings)}"
        f"\n  creates: {summary(creates)}"
        f"\n           created {len(created)}, duplicates {len(duplicates)},"
        f" unknown outcome {len(unknown)} {sorted({(a.status, a.code) for a in unknown})}"
        f"\n  held by the hung node until it woke: {len(held)}, sent"
        f" {', '.join(f'{a.start - pause:+.2f}' for a in held)} s after the pause"
        f" ({len(held_late)} later than {DETECT_WITHIN} s)"
        f"\n  creates slowed by the cluster itself (peer timeout): {len(stalled)},"
        f" max {max((a.seconds for a in stalled), default=0):.2f} s"
    )
    assert duplicates == [], "a create was replayed on another node"
    assert {a.status for a in pings} == {200}, "a ping failed"
    assert held_late == [], "the hung node still got new requests after the first second"
    assert stalled_bad == [], "slow answers the paused node does not explain"
    assert missing == [], "an acknowledged create is not there"
    assert invented == set()


def test_when_every_node_was_left_out_nginx_asks_them_again():
    """No 502 "no live upstreams" for fail_timeout after every node hung once."""
    for name in NODES:
        docker("pause", name)
    try:
        hung = ping("node")[0]  # each node gets its 1 s, then 504
    finally:
        for name in NODES:
            docker("unpause", name)
    after = [ping("node")[0] for _ in range(6)]
    print(f"\nevery node hung: {hung}; right after they woke: {after}")
    assert hung == 504
    assert after == [200] * 6


def own_write_ping_becomes(address: tuple[str, int], status: int) -> None:
    deadline = time.monotonic() + 30
    while ping("write", address)[0] != status and time.monotonic() < deadline:
        time.sleep(0.5)


def test_b_two_replicas_killed_answers_are_the_clusters_own():
    dead, survivor = ["lb_replica1_node1", "lb_replica2_node1"], "lb_replica3_node1"
    direct = (NODES[survivor], 8443)
    own_write_ping_becomes(direct, 200)  # a settled cluster first
    for name in dead:
        docker("kill", name)
    own_write_ping_becomes(direct, 503)  # the survivor itself knows
    reads, writes, seconds = [], [], []
    for _ in range(20):
        own = ping("read", direct)[0]
        start = time.monotonic()
        reads.append((ping("read")[0], own))
        seconds.append(time.monotonic() - start)
    for _ in range(20):
        start = time.monotonic()
        writes.append(ping("write")[:2])
        seconds.append(time.monotonic() - start)
    with ThreadPoolExecutor(max_workers=5) as pool:  # at once: a real cluster takes 30 s
        bodies = [create_body(i, "dead", f"dead{i}") for i in range(5)]
        creates = [
            r[:2] for r in pool.map(lambda b: request(LB_ADDRESS, "POST", "/", b, 45), bodies)
        ]
    print(
        f"\n(b) {', '.join(dead)} killed, {survivor} survives"
        f"\n  read pings (lb, node itself): {sorted(set(reads))} x {len(reads)}"
        f"\n  write pings: {sorted(set(writes))} x {len(writes)}; creates: {sorted(set(creates))}"
        f"\n  p99 {percentile(seconds, 0.99):.3f} s, max {max(seconds):.3f} s"
    )
    assert all(lb == own for lb, own in reads), reads
    assert all(status == 503 and code for status, code in writes), writes
    assert all(status == 503 and code for status, code in creates), creates
    proc = playbook("playbooks/heal.yml")
    assert all(recap(proc.stdout)[name]["changed"] >= 1 for name in dead)
    assert ping("write")[0] == 200
