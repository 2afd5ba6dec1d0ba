"""A write is acknowledged only once a majority of its log segment's holders
have it durably (appended to entries.jsonl and fsync'd), never earlier.

3 replicas x 1 node, all data+log: one log segment, held by the three nodes.
Threads create documents with client-chosen ids through one coordinator (A),
itself a holder. The node processes load a ``sitecustomize`` (on PYTHONPATH)
that records, after every fsync of entries.jsonl, the size it made durable,
and that makes one holder's (C's) disk slow, so C's copy of a write lags
behind A's. While the writes run:

1. all up: writes are acknowledged;
2. SIGKILL holder B: writes are still acknowledged, now by A and slow C only;
3. SIGKILL C while writes wait on its fsync: no write started from now on can
   reach a majority, so none may be acknowledged (they time out);
4. SIGKILL A mid-write, then every node: a power loss. Each entries.jsonl is
   truncated to what an fsync had made durable (the worst a power loss may do).

Assertions:

* on disk: every acknowledged write is in the durable part of the files of at
  least a majority (2) of the holders. An implementation that acknowledges
  after the coordinator's own append, or when a peer received or wrote the
  entry but had not fsync'd it, fails here: with C slow, the last writes
  acknowledged before the power loss exist on A only;
* no write started after C's death is acknowledged;
* behaviour: A's disk is declared lost for good; B and C restart on their
  truncated files and every acknowledged write is found through each of them.
  Writes that failed or got no answer may or may not be there: counted.

Nothing waits on failure-detection timing: a killed node refuses connections
at once, restarted nodes have never heard from A, every wait polls for
behaviour within a bound, every request has a client-side timeout (the
driver's ``timeout`` option is not applied by requests, so the queries go
over plain HTTP, serialised by the driver's own JSON encoder).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import threading
import time
import warnings

import pytest
from faunadb_double.testing import LoopbackCluster, port_open
from faunadb_double.topology import View, token_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import requests
    from faunadb import query as q
    from faunadb._json import parse_json, to_json

pytestmark = pytest.mark.slow

COLLECTION = "durable"
ENTRIES = "entries.jsonl"
FSYNCED = ENTRIES + ".fsynced"  # the shim's record, next to the file it watches
FSYNC_DELAY_ENV = "DURABLE_ACK_FSYNC_DELAY_SECONDS"
SLOW_FSYNC_S = 0.25  # C's disk: its copy of a write lags this much behind A's
SEGMENT = 0
THREADS = 6
MAX_ATTEMPTS = 5000  # ids handed out at most, whatever happens
WORKLOAD_SECONDS = 40  # the writer threads stop by then, whatever happens
QUERY_TIMEOUT_S = 1.5  # X-Query-Timeout: how long a write without a majority may wait
HTTP_TIMEOUT_S = QUERY_TIMEOUT_S + 4  # client side, in case the server does not honour it
ACKS_PER_PHASE = 30
NO_MAJORITY_S = QUERY_TIMEOUT_S + 1.0  # writes caught by C's death time out meanwhile
READ_BACK_S = 25  # restarted nodes catch up and answer within this (11 s detection + slack)
ACKED = "acked"
ALL_UP, B_KILLED, C_KILLED, A_KILLED = (
    "all holders up", "B killed", "B and C killed", "A killed (power loss)")

FSYNC_SHIM = '''\
"""Test shim (tests/integration/double/test_durable_ack.py). After each fsync
of an entries.jsonl, append to entries.jsonl.fsynced the size that fsync made
durable. With DURABLE_ACK_FSYNC_DELAY_SECONDS set, that fsync is slow."""
import os
import time

_DELAY = float(os.environ.get("DURABLE_ACK_FSYNC_DELAY_SECONDS") or 0)


def _tracked(real):
    def sync(fd):
        fileno = fd if isinstance(fd, int) else fd.fileno()
        try:
            path = os.readlink(f"/proc/self/fd/{fileno}")
        except OSError:
            path = None
        if not path or os.path.basename(path) != "entries.jsonl":
            return real(fd)
        if _DELAY:
            time.sleep(_DELAY)  # a slow disk
        size = os.fstat(fileno).st_size  # everything the kernel holds as the sync starts
        real(fd)
        rec = os.open(path + ".fsynced", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(rec, b"%d\\n" % size)
        finally:
            os.close(rec)
    return sync


os.fsync = _tracked(os.fsync)
os.fdatasync = _tracked(os.fdatasync)
'''


class Api:
    """One node's client API over plain HTTP, with hard timeouts."""

    def __init__(self, cluster: LoopbackCluster, node):
        self.url = f"http://{node.address}:8443/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {cluster.root_key}"

    def query(self, expr, timeout_s: float = QUERY_TIMEOUT_S):
        """-> (HTTP status, parsed body); raises requests.RequestException on no answer."""
        resp = self.session.post(self.url, data=to_json(expr),
                                 headers={"X-Query-Timeout": str(int(timeout_s * 1000))},
                                 timeout=(2, timeout_s + 4))
        try:
            body = parse_json(resp.text)
        except ValueError:
            body = {"raw": resp.text}
        return resp.status_code, body


def _error_code(body) -> str:
    try:
        return body["errors"][0]["code"]
    except (KeyError, IndexError, TypeError):
        return "?"


class Workload:
    """Threads creating documents with client-chosen ids through one coordinator."""

    def __init__(self, cluster, coordinator, ids):
        self.cluster = cluster
        self.coordinator = coordinator
        self.lock = threading.Lock()
        self.ids = iter(ids)
        self.phase = ALL_UP
        self.outcomes: dict[str, tuple[str, str]] = {}  # id -> (outcome, phase at start)
        self.stop = threading.Event()
        self.deadline = time.monotonic() + WORKLOAD_SECONDS
        self.threads = [threading.Thread(target=self._run, name=f"writer-{i}", daemon=True)
                        for i in range(THREADS)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(HTTP_TIMEOUT_S + 5)
        if exc[0] is None:  # else let the original error through
            assert not any(t.is_alive() for t in self.threads), "writer threads did not stop"

    def _next_id(self):
        with self.lock:
            return next(self.ids, None)

    def _run(self):
        api = Api(self.cluster, self.coordinator)
        coll = q.collection(COLLECTION)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            doc_id = self._next_id()
            if doc_id is None:
                return
            phase = self.phase
            try:
                status, body = api.query(q.create(q.ref(coll, doc_id), {"data": {"id": doc_id}}))
                outcome = ACKED if status == 201 else f"{status} {_error_code(body)}"
            except requests.RequestException as exc:
                outcome = f"no answer ({type(exc).__name__})"
            with self.lock:
                self.outcomes[doc_id] = (outcome, phase)
            if outcome != ACKED:
                self.stop.wait(0.05)  # some failures are immediate: do not spin

    def enter(self, phase: str) -> None:
        self.phase = phase

    def count(self, phase: str, outcome: str | None = None) -> int:
        with self.lock:
            return sum(1 for o, p in self.outcomes.values()
                       if p == phase and (outcome is None or o == outcome))


def _free_subnet(nodes: int) -> int:
    """A second octet whose node addresses nobody listens on (tests run side by side)."""
    first = (os.getpid() + 101) % 200
    for k in range(200):
        subnet = 20 + (first + k) % 200
        if not any(port_open(f"127.{subnet}.0.{11 + i}", port)
                   for i in range(nodes) for port in (8444, 8443, 7500)):
            return subnet
    raise RuntimeError("no free loopback subnet")


def _durable_size(node) -> int:
    try:
        with open(os.path.join(node.data_path, FSYNCED), encoding="ascii") as fh:
            return max((int(line) for line in fh if line.strip()), default=0)
    except FileNotFoundError:
        return 0


def _durable_ids(node) -> set[str]:
    """Ids of the test's documents in the fsync'd part of the node's entries."""
    prefix = f"d/{COLLECTION}/"
    with open(os.path.join(node.data_path, ENTRIES), "rb") as fh:
        data = fh.read(_durable_size(node))
    ids = set()
    for line in data.splitlines():
        entry = json.loads(line)
        if entry["key"].startswith(prefix) and entry.get("val") is not None:
            ids.add(entry["key"][len(prefix):])
    return ids


def _power_loss(node) -> int:
    """Drop what no fsync covered, as a power loss may; return the bytes dropped."""
    path = os.path.join(node.data_path, ENTRIES)
    size, keep = os.path.getsize(path), _durable_size(node)
    os.truncate(path, keep)
    return size - keep


def _present(api: Api) -> set[str] | None:
    try:
        status, body = api.query(q.paginate(q.documents(q.collection(COLLECTION)),
                                            size=100_000), timeout_s=3)
    except requests.RequestException:
        return None
    return {ref.id() for ref in body["resource"]["data"]} if status == 200 else None


def test_acknowledged_write_is_durable_on_a_majority_of_holders(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(FSYNC_SHIM, encoding="utf-8")
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p),
        "FAUNADB_DOUBLE_FAILURE_DETECTION_SECONDS": "2",  # nothing here waits on it
    }
    with LoopbackCluster(3, 1, env=env, subnet=_free_subnet(3)) as c:
        a, b, slow = c.nodes  # init node = coordinator; joined in this order
        slow.env[FSYNC_DELAY_ENV] = str(SLOW_FSYNC_S)
        c.start_all()
        c.form()
        by_host = {c.node_state(n)["host_id"]: n for n in c.nodes}
        with open(os.path.join(a.data_path, "topology.json"), encoding="utf-8") as fh:
            view = View(json.load(fh))
        holders = [by_host[h] for _, h in sorted(view.segment_holders(SEGMENT).items())]
        need = len(view.log_replicas()) // 2 + 1
        assert holders == [a, b, slow] and need == 2, (holders, need)

        candidates = (str(10**15 + i) for i in itertools.count())
        ids = list(itertools.islice(
            (i for i in candidates
             if view.segment_of_token(token_of(f"d/{COLLECTION}/{i}")) == SEGMENT),
            MAX_ATTEMPTS))
        status, body = Api(c, a).query(q.create_collection({"name": COLLECTION}), 10)
        assert status == 201, body
        started = time.monotonic()

        with Workload(c, a, ids) as w:
            c.wait_until(lambda: w.count(ALL_UP, ACKED) >= ACKS_PER_PHASE, 15, 0.05,
                         "writes acknowledged with every holder up")
            c.kill(b)
            w.enter(B_KILLED)
            c.wait_until(lambda: w.count(B_KILLED, ACKED) >= ACKS_PER_PHASE, 15, 0.05,
                         "writes acknowledged by A and slow C")
            c.kill(slow)  # while writes wait on its fsync
            w.enter(C_KILLED)
            c_killed = time.monotonic()
            c.wait_until(lambda: w.count(C_KILLED) >= THREADS
                         and time.monotonic() - c_killed >= NO_MAJORITY_S,
                         NO_MAJORITY_S + 10, 0.05, "write attempts with B and C dead")
            c.kill(a)  # mid-write
            w.enter(A_KILLED)
        for node in c.nodes:
            c.kill(node)
        workload_s = time.monotonic() - started
        outcomes = dict(w.outcomes)
        acked = {i for i, (o, _) in outcomes.items() if o == ACKED}
        failed = {i: o for i, (o, _) in outcomes.items() if o != ACKED}
        phases = collections.Counter(p for _, p in outcomes.values())
        acked_phases = collections.Counter(p for o, p in outcomes.values() if o == ACKED)
        print(f"\n{len(outcomes)} write attempts in {workload_s:.1f} s, {len(acked)} acked; "
              "acked/attempts by phase started in: "
              + ", ".join(f"{p}: {acked_phases[p]}/{n}" for p, n in phases.items()))

        # -- on disk: every acknowledged write is durable on a majority of holders ---------
        for node in holders:
            assert _durable_size(node) > 0, (
                f"no fsync of {ENTRIES} recorded on {node.name}: either the double no longer "
                "fsyncs its log (nothing it acknowledged is durable) or it makes it durable "
                "another way, which the shim (sitecustomize on PYTHONPATH) must learn")
        durable = {n.name: _durable_ids(n) for n in holders}
        copies = {i: sum(i in d for d in durable.values()) for i in acked}
        print("durable copies of acknowledged writes on the holders: "
              f"{dict(sorted(collections.Counter(copies.values()).items()))}")
        assert acked_phases[C_KILLED] == 0, (
            f"{acked_phases[C_KILLED]} writes acknowledged though they started after B and C, "
            "2 of the 3 holders of their segment, had been killed")
        short = sorted((i, outcomes[i][1], copies[i]) for i in acked if copies[i] < need)
        assert not short, (
            f"{len(short)} acknowledged writes are durable on fewer than {need} holders "
            f"(id, phase it started in, durable copies); first ones: {short[:8]}")

        # -- behaviour: A's disk is lost for good; B and C restart after the power loss -----
        survivors = [b, slow]
        dropped = {n.name: _power_loss(n) for n in survivors}
        print(f"un-fsync'd bytes dropped by the power loss: {dropped}")
        for node in survivors:
            c.start(node, wait=False)
        for node in survivors:
            c.wait_until(lambda n=node: port_open(n.address, 8443) or not n.running, 20, 0.1,
                         f"client API of {node.name}")
            assert node.running, f"{node.name} did not restart on its truncated log"
        apis = {n.name: Api(c, n) for n in survivors}
        found: dict[str, set[str]] = {}

        def everything_found():
            for name, api in apis.items():
                if not acked <= found.get(name, set()):
                    found[name] = _present(api) or set()
            return all(acked <= found[name] for name in apis)

        with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
            c.wait_until(everything_found, READ_BACK_S, 0.3, "every acknowledged write read")
        for name in apis:
            missing = sorted(acked - found.get(name, set()))
            assert not missing, (
                f"{len(missing)} of {len(acked)} acknowledged writes not found through {name} "
                f"after the restart; first ones: {missing[:8]}")
        present = set().union(*found.values())
        kinds = collections.Counter(failed.values())
        there = collections.Counter(o for i, o in failed.items() if i in present)
        print(f"all {len(acked)} acknowledged writes found; {len(failed)} not acknowledged "
              f"{dict(kinds)}, of which {sum(there.values())} present anyway {dict(there)}")
        api = apis[b.name]
        for doc_id in sorted(acked)[:: max(1, len(acked) // 10)]:
            status, body = api.query(q.get(q.ref(q.collection(COLLECTION), doc_id)), 5)
            assert status == 200 and body["resource"]["data"] == {"id": doc_id}, body
        print(f"took {time.monotonic() - started:.1f} s after forming")
