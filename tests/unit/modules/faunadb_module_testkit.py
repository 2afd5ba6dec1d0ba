"""Shared helpers for the faunadb_* module unit tests (imported by conftest.py first).

Makes library/ and module_utils/ importable the way Ansible does
(``ansible.module_utils.faunadb_*``), loads recorded faunadb-admin output, and
provides a fake node that answers faunadb-admin argv lists from state, so the
modules can run end to end without FaunaDB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ansible.module_utils

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
if str(REPO / "library") not in sys.path:
    sys.path.insert(0, str(REPO / "library"))

# Re-exported for conftest.py, which must not import ansible.module_utils.faunadb_*
# before the path above is set.
from ansible.module_utils import faunadb_executor  # noqa: E402, F401
from ansible.module_utils.faunadb_executor import Executor  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402, F401

ROOT_KEY = "s3cr3t-root-key"


def fixture_text(name):
    return (FIXTURES / name).read_text()


def recorded(command, variant):
    """(stdout, stderr) recorded for `faunadb-admin COMMAND` in situation VARIANT."""
    base = f"faunadb_admin_{command}_{variant}"
    out = FIXTURES / f"{base}.txt"
    err = FIXTURES / f"{base}.stderr.txt"
    if not out.exists() and not err.exists():
        raise FileNotFoundError(base)
    return (
        out.read_text() if out.exists() else "",
        err.read_text() if err.exists() else "",
    )


def format_status_text(data):
    """Render /admin/status JSON the way the current faunadb-admin prints it."""
    headers = [
        "Status",
        "State",
        "WorkerID",
        "Log Segment",
        "Address",
        "Owns",
        "Goal",
        "HostID",
        "Persisted Timestamp",
    ]
    rows = []
    for node in data["nodes"]:
        leader = " (leader)" if node["log_segment_leader"] else ""
        rows.append(
            (
                node["replica"],
                [
                    node["status"],
                    node["state"],
                    node["worker_id"],
                    node["log_segment"] + leader,
                    node["address"],
                    "%4.1f%%" % (node["ownership"] * 100),  # noqa: UP031 - FaunaDB's format
                    "%4.1f%%" % (node["ownership_goal"] * 100),  # noqa: UP031
                    node["host_id"],
                    node["persisted_timestamp"],
                ],
            )
        )
    widths = [len(h) for h in headers]
    for _, cells in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    types = {r["name"]: r["type"] for r in data["replica_info"]}
    out = []
    for replica in sorted({r for r, _ in rows}):
        header = f"Replica: {replica} ({types.get(replica, 'unknown type')})"
        out += ["", header, "=" * len(header), line(headers)]
        out += [line(c) for r, c in sorted(rows, key=lambda x: x[1][2]) if r == replica]
    return "\n".join(out) + "\n"


USAGE = "usage: faunadb-admin COMMAND [args]\n\nInvalid command.\n"


class FakeCluster:
    """Cluster state shared by the fake nodes: who joined which replica, types."""

    def __init__(self, key=ROOT_KEY):
        self.key = key
        self.members = {}  # address -> dict(replica, host_id, state, status)
        self.types = {}
        self.movement = "No data movement is currently in progress."

    def add(self, address, replica, rtype=None):
        host_id = "00000000-0000-4000-8000-%012d" % (len(self.members) + 1)  # noqa: UP031
        self.members[address] = dict(replica=replica, host_id=host_id, state="live", status="up")
        self.types.setdefault(replica, rtype or "compute")
        return host_id

    def status_json(self):
        nodes = []
        for i, (address, m) in enumerate(sorted(self.members.items())):
            nodes.append(
                dict(
                    status=m["status"],
                    state=m["state"],
                    ownership=0.0,
                    ownership_goal=0.0,
                    host_id=m["host_id"],
                    address=address,
                    replica=m["replica"],
                    worker_id=str(512 + i),
                    log_segment="none",
                    log_segment_leader=False,
                    persisted_timestamp="not reported",
                )
            )
        return dict(
            nodes=nodes, replica_info=[dict(name=n, type=t) for n, t in sorted(self.types.items())]
        )


class Scripted(Executor):
    """Answers each call with the next scripted (rc, stdout, stderr), recording argv and env."""

    # Answers come in the scripted order, so no two commands may run at once.
    concurrent = False

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def run(self, argv, env=None, timeout=None):
        self.calls.append((list(argv), dict(env or {})))
        return self.answers.pop(0)


class FakeNode(Executor):
    """One node's faunadb-admin, answering from FakeCluster state.

    Records every (argv, env) so tests can check how commands were built.
    """

    name = "fake"

    def __init__(self, cluster, address, json_supported=True, admin_path="faunadb-admin"):
        self.cluster = cluster
        self.address = address
        self.json_supported = json_supported
        self.admin_path = admin_path
        self.calls = []

    @property
    def mutations(self):
        return [
            a for a, _ in self.calls if a and a[0] in ("init", "join", "update-replica", "remove")
        ]

    def run(self, argv, env=None, timeout=None):
        env = dict(env or {})
        assert argv[0] == self.admin_path
        args, as_json = [], False
        it = iter(argv[1:])
        for arg in it:
            if arg in ("-c", "-H"):
                next(it)
            elif arg in ("--json", "-j"):
                as_json = True
            else:
                args.append(arg)
        self.calls.append((args, env))
        if env.get("FAUNADB_ROOT_KEY") != self.cluster.key:
            return (
                1,
                "",
                "Failed: Unauthorized. Please check that the provided Root Key is correct.\n",
            )
        if as_json and not self.json_supported:
            return 1, "Unrecognized option: --json\n" + USAGE, ""
        handler = getattr(self, "cmd_" + args[0].replace("-", "_"), None) if args else None
        if handler is None:
            return 1, USAGE, ""
        return handler(args[1:], as_json)

    def _me(self):
        return self.cluster.members.get(self.address)

    def _not_member(self):
        return 1, "", "Failed: This node is not part of a cluster.\n"

    def cmd_status(self, args, as_json):
        if not self._me():
            return self._not_member()
        data = self.cluster.status_json()
        return 0, json.dumps(data) if as_json else format_status_text(data), ""

    def cmd_show_identity(self, args, as_json):
        me = self._me()
        return (0, me["host_id"] + "\n", "") if me else self._not_member()

    def cmd_init(self, args, as_json):
        if args != ["-r", args[-1]]:
            return 1, "Replica name is required.\n", ""
        if self._me():
            return (
                0,
                "Node has NOT initialized the cluster. It is already a member of a cluster.\n",
                "",
            )
        self.cluster.add(self.address, args[-1], "data+log")
        return 0, "Node has initialized the cluster.\n", ""

    def cmd_join(self, args, as_json):
        seed, replica = args[0], args[2]
        if self._me():
            return 0, "Node has NOT joined the cluster. It is already a member of a cluster.\n", ""
        if seed.split(":")[0] not in self.cluster.members:
            return (
                1,
                (
                    "ERROR: Could not join the cluster through %s. Please make sure it is "  # noqa: UP031
                    "reachable and a member of an existing cluster.\n" % seed
                ),
                "",
            )
        self.cluster.add(self.address, replica)
        return 0, "Node has joined the cluster.\n", ""

    def cmd_show_replication(self, args, as_json):
        if not self._me():
            return self._not_member()
        lines = ["\treplica\ttype"] + [
            f"{i}\t{n}\t{t}" for i, (n, t) in enumerate(sorted(self.cluster.types.items()))
        ]
        return 0, "\n".join(lines) + "\n", ""

    def cmd_update_replica(self, args, as_json):
        rtype, names = args[0], args[1:]
        if not names:
            return 1, "No replicas were given. Please specify at least one replica.\n", ""
        for name in names:
            if name not in self.cluster.types:
                return 1, "", f"Failed: Unknown replica {name}\n"
        for name in names:
            self.cluster.types[name] = rtype
        if len(names) == 1:
            return 0, f"Updated replica {names[0]} to type {rtype}.\n", ""
        return 0, f"Updated replicas {', '.join(names)} to type {rtype}.\n", ""

    def cmd_movement_status(self, args, as_json):
        if not self._me():
            return self._not_member()
        return 0, self.cluster.movement + "\n", ""

    def cmd_remove(self, args, as_json):
        for m in self.cluster.members.values():
            if m["host_id"] == args[0]:
                m["state"] = "removed"
                return 0, f"Node {args[0]} is now being removed.\n", ""
        return 1, "", "Failed: Host is unknown.\n"
