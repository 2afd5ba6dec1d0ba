"""`faunadb-admin`: the admin CLI of the double, speaking to a node's admin API.

Output, messages and exit codes follow the current FaunaDB release (see
docs/faunadb-surface.md): results on stdout, exit 0; local failures as
``ERROR: ...`` on stdout and admin-API HTTP errors as ``Failed: ...`` on
stderr, exit 1. A request the admin API never answers (nothing listening,
the connection dropped) ends in exit 1 **without a word**: the real tool's
AdminCommand turns the exception inside its Try into ``false`` (verified
2026-12-07, ``status`` against a port nobody listens on). Only
show-replication and update-replica, whose first request is made outside
that Try (AdminCommands.getReplication), reach Admin.scala's catch and print
``ERROR: Could not connect to FaunaDB at HOST`` (read in the source).
Requests wait for their answer without a bound, as the real tool's
(``responseTimeout = Duration.Inf``): callers bound the call themselves.

This is the tool inside lib/faunadb.jar; bin/faunadb-admin (the launcher)
picks the config file and appends ``--conf FILE`` and maybe ``--key KEY`` to
the user's arguments. The last occurrence of an option wins, so the
launcher's choice beats a ``-c`` (or ``-k``) the user gave.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys

from .auth import hash_key
from .config import ConfigError, load_config
from .status_format import format_status
from .topology import REPLICA_TYPES

DEFAULT_CONFIGS = ("/etc/faunadb.yml", "/etc/faunadb/faunadb.yml")
JOIN_TIMEOUT_ENV = "FAUNADB_JOIN_TIMEOUT"  # seconds; FaunaDB gives up after ~90
DEFAULT_JOIN_TIMEOUT = 90.0

UNAUTHORIZED = "Unauthorized. Please check that the provided Root Key is correct."
HELLO_TIMEOUT = "Please make sure it is reachable and a member of an existing cluster."
UNKNOWN_ERROR = "Unknown error. Please contact support. Message was"

USAGE = """\
Usage: faunadb-admin [options] COMMAND [args]

Options (before or after the command):
  -c, --conf PATH      configuration file; the launcher passes the one it found
                       ($FAUNADB_CONFIG, ./faunadb.yml, INSTALL/faunadb.yml, /etc/faunadb.yml)
  -k, --key KEY        root key (default: $FAUNADB_ROOT_KEY, then auth_root_key from the config)
  -H, --host HOST      admin endpoint HOST, HOST:PORT or :PORT
                       (default: $FAUNADB_ADMIN_HOST, then the config, then 127.0.0.1:8444)
  -j, --json           print JSON instead of text
  -r, --replica NAME   replica name (init, join)
  -h, --help           show this help

Commands:
  init -r NAME                      initialize a new cluster with this node
  join SEED -r NAME                 join the cluster that SEED belongs to
  status                            show the cluster's nodes
  update-replica TYPE R [R...]      set replicas to TYPE (compute, data, data+log)
  show-replication                  list replicas and their types
  movement-status                   show data movement after topology changes
  host-id ADDRESS                   print the host ID of the node at ADDRESS
  show-identity                     print this node's host ID
  remove HOST_ID [--force] [--allow-unclean]
                                    remove a node from the cluster
  hash-key KEY                      print a bcrypt hash of KEY
  host-version                      print the node's version
"""


class CliError(Exception):
    """``ERROR: message`` on stdout, exit 1."""


class ApiError(Exception):
    """``Failed: message`` on stderr, exit 1."""


class InvalidCommand(Exception):
    pass


class NoAnswer(Exception):
    """The admin API never answered: exit 1, nothing printed."""


# -- arguments -----------------------------------------------------------------

_VALUE_OPTS = {"-c": "conf", "--conf": "conf", "-k": "key", "--key": "key", "-H": "host",
               "--host": "host", "-r": "replica", "--replica": "replica"}
_FLAG_OPTS = {"-j": "json", "--json": "json", "--force": "force",
              "--allow-unclean": "allow_unclean", "-h": "help", "--help": "help"}


def parse_args(argv: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if arg.startswith("--") and eq and name in _VALUE_OPTS:
            opts[_VALUE_OPTS[name]] = inline
        elif arg in _VALUE_OPTS:
            if i + 1 >= len(argv):
                raise CliError(f"Option {arg} needs a value.")
            opts[_VALUE_OPTS[arg]] = argv[i + 1]
            i += 1
        elif arg in _FLAG_OPTS:
            opts[_FLAG_OPTS[arg]] = True
        elif arg.startswith("-") and arg != "-" and positional[:1] != ["hash-key"]:
            raise InvalidCommand(arg)
        else:
            positional.append(arg)
        i += 1
    return opts, positional


# -- admin API client ------------------------------------------------------------


def parse_host(value: str, default_host: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    return host or default_host, int(port) if port else default_port


class AdminClient:
    def __init__(self, host: str, port: int, key: str | None, connect_timeout: float = 30.0,
                 join_timeout: float = DEFAULT_JOIN_TIMEOUT):
        self.host, self.port, self.key = host, port, key
        self.connect_timeout = connect_timeout
        self.join_timeout = join_timeout

    def request(self, method: str, path: str, body=None, headers=None, *,
                outside_try: bool = False):
        """One admin API request; its answer is awaited without a bound.

        Unanswered: NoAnswer (silent exit 1), or with ``outside_try`` what
        Admin.scala's catch prints for the exception."""
        if not self.key:
            raise CliError("A root key is required: use -k, FAUNADB_ROOT_KEY or auth_root_key.")
        token = base64.b64encode(f"{self.key}:".encode()).decode()
        hdrs = {"Authorization": f"Basic {token}", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(None)  # Duration.Inf, as the real tool's client
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            if not outside_try:
                raise NoAnswer() from exc
            if isinstance(exc, ConnectionRefusedError):
                raise CliError(f"Could not connect to FaunaDB at {self.host}") from exc
            raise CliError(str(exc) or type(exc).__name__) from exc
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"raw": raw.decode(errors="replace")}
        if resp.status >= 400:
            raise _api_error(resp.status, doc)
        return doc, resp.headers


def _api_error(status: int, doc: dict) -> ApiError:
    errors = doc.get("errors") or [{}]
    code = errors[0].get("code", "")
    desc = errors[0].get("description", "")
    if status == 401:
        return ApiError(UNAUTHORIZED)
    if code == "hello timeout":
        return ApiError(HELLO_TIMEOUT)
    if status in (400, 404, 412):
        return ApiError(desc)
    if status == 500:
        return ApiError(f"{UNKNOWN_ERROR} {desc}")  # e.g. UninitializedException before init
    return ApiError(f"{UNKNOWN_ERROR} {desc} {json.dumps(doc)}")


# -- commands ----------------------------------------------------------------------


def _changed(changed: bool) -> str:
    # FaunaDB's spacing, e.g. `{ "changed": false }` for a second init (verified item 7).
    return f'{{ "changed": {json.dumps(changed)} }}'


def _became_member(opts, doc, verb):
    """init's and join's answer: whether the node did VERB (also the admin API's field),
    as `{ "changed": ... }` with --json, else FaunaDB's sentence."""
    done = bool(doc.get(verb))
    if opts.get("json"):
        return _changed(done)
    if done:
        return f"Node has {verb} the cluster."
    return f"Node has NOT {verb} the cluster. It is already a member of a cluster."


def cmd_init(client, opts, args):
    if not opts.get("replica"):
        raise CliError("Replica name is required.")
    doc, _ = client.request("POST", "/admin/init", {"replica_name": opts["replica"]})
    return _became_member(opts, doc, "initialized")


def cmd_join(client, opts, args):
    if len(args) != 1:
        raise CliError("A seed node address is required.")
    if not opts.get("replica"):
        raise CliError("Replica name is required.")
    # The node waits for the seed (and keeps trying after it gave up).
    doc, _ = client.request("POST", "/admin/join", {
        "seed": args[0], "replica_name": opts["replica"],
        "timeout": max(0.0, client.join_timeout)})
    return _became_member(opts, doc, "joined")


def cmd_status(client, opts, args):
    doc, _ = client.request("GET", "/admin/status")
    return json.dumps(doc, indent=2) if opts.get("json") else format_status(doc).rstrip("\n")


def cmd_update_replica(client, opts, args):
    if not args or args[0] not in REPLICA_TYPES:
        given = args[0] if args else ""
        raise CliError(f"Invalid replica type {given}. Use one of: {', '.join(REPLICA_TYPES)}.")
    rtype, names = args[0], args[1:]
    if not names:
        raise CliError("No replicas were given. Please specify at least one replica.")
    _, headers = client.request("GET", "/admin/replication", outside_try=True)
    etag = headers.get("ETag")
    client.request("PUT", "/admin/replication",
                   {"replicas": [{"name": n, "type": rtype} for n in names]},
                   headers={"If-Match": etag} if etag else None)
    if len(names) == 1:
        return f"Updated replica {names[0]} to type {rtype}."
    return f"Updated replicas {', '.join(names)} to type {rtype}."


def cmd_show_replication(client, opts, args):
    doc, _ = client.request("GET", "/admin/replication", outside_try=True)
    if opts.get("json"):
        return json.dumps(doc, indent=2)
    lines = ["\treplica\ttype"]
    for i, rep in enumerate(doc["replicas"], start=1):
        lines.append(f"{i}\t{rep['name']}\t{rep['type']}")
    return "\n".join(lines)


def cmd_movement_status(client, opts, args):
    doc, _ = client.request("GET", "/admin/movement_status")
    return json.dumps(doc) if opts.get("json") else doc["message"]


def cmd_host_id(client, opts, args):
    if len(args) != 1:
        raise CliError("An address is required.")
    doc, _ = client.request("POST", "/admin/host-id", {"node": args[0]})
    return doc["identity"]


def cmd_show_identity(client, opts, args):
    doc, _ = client.request("GET", "/admin/identity")
    return doc["identity"]


def cmd_remove(client, opts, args):
    if len(args) != 1:
        raise CliError("A host ID is required.")
    client.request("POST", "/admin/remove_node", {
        "host_id": args[0], "force": bool(opts.get("force")),
        "allow_unclean": bool(opts.get("allow_unclean")),
    })
    return f"Node {args[0]} is now being removed."


def cmd_host_version(client, opts, args):
    doc, _ = client.request("GET", "/admin/host_version")
    return f"Fauna {doc['version']}"


COMMANDS = {
    "init": cmd_init,
    "join": cmd_join,
    "status": cmd_status,
    "update-replica": cmd_update_replica,
    "show-replication": cmd_show_replication,
    "movement-status": cmd_movement_status,
    "host-id": cmd_host_id,
    "show-identity": cmd_show_identity,
    "remove": cmd_remove,
    "host-version": cmd_host_version,
}


def _load_config(opts, env, err):
    path = opts.get("conf") or env.get("FAUNADB_CONFIG")
    if not path:
        path = next((p for p in DEFAULT_CONFIGS if os.path.isfile(p)), None)
        if path is None:
            return None
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    print(f"Loaded configuration from {path}...", file=err or sys.stderr)
    return cfg


def _client(opts, cfg, env) -> AdminClient:
    default_host = "127.0.0.1"
    default_port = 8444
    if cfg is not None:
        wildcard = cfg.admin_address in ("0.0.0.0", "")  # noqa: S104 - detecting, not binding
        default_host = "127.0.0.1" if wildcard else cfg.admin_address
        default_port = cfg.admin_port
    host_value = opts.get("host") or env.get("FAUNADB_ADMIN_HOST") or ""
    host, port = parse_host(host_value, default_host, default_port)
    key = _unquote(opts.get("key")) or env.get("FAUNADB_ROOT_KEY") or (
        cfg.root_key if cfg else None)
    try:
        join_timeout = float(env.get(JOIN_TIMEOUT_ENV, DEFAULT_JOIN_TIMEOUT))
    except ValueError:
        join_timeout = DEFAULT_JOIN_TIMEOUT
    return AdminClient(host, port, key, join_timeout=join_timeout)


def _unquote(key: str | None) -> str | None:
    """The launcher copies `auth_root_key: "k"` as text, quotes and all; the real
    tool still authenticated with it (verified item 4), so strip matching quotes."""
    if key and len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


def run(argv: list[str], env=None, out=None, err=None) -> int:
    """The tool's exit code. ``env``, ``out`` and ``err`` default to the process's own;
    given, calls can run side by side in one process (the modules' unit tests do)."""
    env = os.environ if env is None else env
    try:
        opts, positional = parse_args(argv)
        if opts.get("help"):
            print(USAGE, file=out)
            return 0
        if not positional or positional[0] not in COMMANDS and positional[0] != "hash-key":
            raise InvalidCommand(positional[0] if positional else "")
        command, args = positional[0], positional[1:]
        if command == "hash-key":
            if len(args) != 1:
                raise CliError("A key to hash is required.")
            print(hash_key(args[0]), file=out)
            return 0
        cfg = _load_config(opts, env, err)
        output = COMMANDS[command](_client(opts, cfg, env), opts, args)
    except InvalidCommand:
        print(USAGE, file=out)
        print("Invalid command.", file=out)
        return 1
    except CliError as exc:
        print(f"ERROR: {exc}", file=out)
        return 1
    except ApiError as exc:
        print(f"Failed: {exc}", file=err or sys.stderr)
        return 1
    except NoAnswer:
        return 1
    print(output, file=out)
    return 0


def main() -> int:
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
