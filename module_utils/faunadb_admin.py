"""The faunadb-admin runner shared by the faunadb_* modules.

Builds argv lists, passes the root key through the environment only, turns a
failing call into an AdminCommandError carrying FaunaDB's own message, and
offers the reads every module needs (status, replication, movement, identity).
"""

from __future__ import annotations

import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils import faunadb_executor
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_parse import (
    ParseError,
    exception_line,
    has_stack_trace,
    parse_host_version,
    parse_identity,
    parse_movement_status,
    parse_show_replication,
)
from ansible.module_utils.faunadb_parse_status import parse_status_json, parse_status_text

ROOT_KEY_ENV = "FAUNADB_ROOT_KEY"
# Seconds between two tries of a command whose admin API did not answer yet.
ADMIN_WAIT_INTERVAL = 1
# What error_message() says of a failure that printed nothing of its own.
NO_MESSAGE = "no output"
# A real faunadb-admin whose request never completes (the admin API refusing
# connections while the node starts) exits 1 printing nothing but its jamm
# banner: the tool turns the exception into `false` without a word.
SILENT_FAILURE = (
    "it printed no message of its own: its admin API did not answer (a node still starting, "
    "or too busy to answer in time)"
)
LOG_TAIL_LINES = 12
LOG_LINE_CHARS = 240
# The real bin/faunadb-admin ignores -c and finds its config only through
# this variable (else ./faunadb.yml, INSTALL/faunadb.yml, /etc/faunadb.yml).
CONFIG_ENV = "FAUNADB_CONFIG"

_ERROR_LINE_RE = re.compile(r"^\s*(?:ERROR|Error|Failed):\s*(?P<msg>.+?)\s*$", re.M)
# Lines every call may print that are never the answer: the launcher's key
# notice (stdout), the JVM's start-up chatter and jamm banner (stderr, 14
# lines each starting with "**").
_NOISE_RE = re.compile(
    r"^(Loaded configuration from|Picked up JAVA_TOOL_OPTIONS|Using plain-text auth_root_key"
    r"|WARNING|OpenJDK|jamm|\*\*)",
    re.I,
)

# Error kinds callers branch on; anything else is just "failed".
_KINDS = (
    # Before init/join a real node answers "... UninitializedException: FaunaDB
    # Service is uninitialized"; older releases and the docs say "not part of a cluster".
    (
        "not_member",
        re.compile(
            r"not part of a cluster|cluster uninitialized|UninitializedException"
            r"|Service is uninitialized",
            re.I,
        ),
    ),
    ("unreachable", re.compile(r"Could not connect|Connection refused|connect timed out", re.I)),
    ("unauthorized", re.compile(r"Unauthorized", re.I)),
    ("invalid_command", re.compile(r"Invalid command|Unrecognized option|Unknown option", re.I)),
    ("unknown_replica", re.compile(r"Unknown replica", re.I)),
    ("unknown_host", re.compile(r"Host is unknown", re.I)),
)


class AdminCommandError(FaunaDBError):
    """faunadb-admin ran and exited non-zero (or printed something unusable)."""

    def __init__(self, msg, kind="failed", **details):
        super().__init__(msg, **details)
        self.kind = kind


def error_message(stdout, stderr):
    """Pick FaunaDB's own message out of a failed call's output.

    `ERROR: ...` goes to stdout and `Failed: ...` (HTTP errors from the admin
    API) to stderr; other failures (usage + `Invalid command.`, missing
    arguments) print a bare last line.
    """
    for stream in (stdout, stderr):
        found = [m.group(0).strip() for m in _ERROR_LINE_RE.finditer(stream or "")]
        if found:
            return "; ".join(found)
    for stream in (stdout, stderr):
        lines = [
            line.strip()
            for line in (stream or "").splitlines()
            if line.strip() and not _NOISE_RE.match(line.strip())
        ]
        if lines:
            # A Java stack trace ends in its deepest frame; the exception line says what happened.
            return exception_line("\n".join(lines)) or lines[-1]
    return NO_MESSAGE


def no_answer(stdout, stderr):
    """Whether a failed call never reached the node's admin API."""
    found = error_message(stdout, stderr)
    return found == NO_MESSAGE or error_kind(found) == "unreachable"


def _kind_text(stdout, stderr, found):
    # With a Java stack trace, the exception picked says what went wrong: a
    # frame or a "Caused by" deeper down (an UninitializedException, say) must
    # not make a failed read look like "not a member".
    if has_stack_trace(f"{stdout}\n{stderr}"):
        return found
    return f"{stdout}\n{stderr}"


def error_kind(text):
    for kind, pattern in _KINDS:
        if pattern.search(text or ""):
            return kind
    return "failed"


class AdminResult:
    def __init__(self, rc, stdout, stderr, cmd):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd

    def as_dict(self):
        return dict(rc=self.rc, stdout=self.stdout, stderr=self.stderr, cmd=self.cmd)


class FaunaAdmin:
    """faunadb-admin as seen through one executor and one set of connection options."""

    def __init__(
        self,
        executor,
        *,
        admin_path="faunadb-admin",
        config_path=None,
        admin_host=None,
        root_key=None,
        timeout=None,
        admin_wait=0,
    ):
        self.executor = executor
        self.admin_path = admin_path or "faunadb-admin"
        self.config_path = config_path
        self.admin_host = admin_host
        self._root_key = root_key
        self.timeout = timeout
        # Seconds a command keeps being retried while the admin API refuses
        # connections (a node just started); 0: fail at once.
        self.admin_wait = admin_wait or 0
        self.commands = []
        # The table as printed, when status() last read it as text.
        self.status_text = None

    @classmethod
    def from_module(cls, module):
        params = module.params
        return cls(
            faunadb_executor.make_executor(module),
            admin_path=params.get("admin_path"),
            config_path=params.get("config_path"),
            admin_host=params.get("admin_host"),
            root_key=params.get("root_key"),
            timeout=params.get("command_timeout"),
            admin_wait=params.get("admin_wait"),
        )

    def argv(self, *args, json_output=False):
        argv = [self.admin_path]
        if self.admin_host:
            argv += ["-H", self.admin_host]
        if json_output:
            argv.append("--json")
        argv += [str(a) for a in args]
        return argv

    def environment(self):
        # Without root_key no key is set: faunadb-admin then falls back to
        # FAUNADB_ROOT_KEY already in the node's environment, then to the
        # config file's auth_root_key (which the real launcher puts on argv).
        env = {CONFIG_ENV: self.config_path} if self.config_path else {}
        if self._root_key:
            env[ROOT_KEY_ENV] = self._root_key
        return env

    def run(self, *args, json_output=False, check=True, timeout=None):
        argv = self.argv(*args, json_output=json_output)
        # The key never is on argv, so the displayed command needs no redaction.
        cmd = " ".join(shlex.quote(a) for a in argv)
        self.commands.append(cmd)
        deadline = time.monotonic() + self.admin_wait
        while True:
            rc, stdout, stderr = self.executor.run(
                argv, self.environment(), timeout=timeout or self.timeout
            )
            # The client never reached the node's admin API ("Could not connect",
            # or a real faunadb-admin's silent exit 1), so the command did
            # nothing and may run again.
            if rc == 0 or time.monotonic() >= deadline or not no_answer(stdout, stderr):
                break
            time.sleep(ADMIN_WAIT_INTERVAL)
        result = AdminResult(rc, stdout, stderr, cmd)
        if check and rc != 0:
            raise self.error(result, log_tail=True)
        return result

    def error(self, result, msg=None, log_tail=False):
        found = error_message(result.stdout, result.stderr)
        details = result.as_dict()
        if found == NO_MESSAGE:
            kind = "unreachable"
            text = msg or f"faunadb-admin failed (rc={result.rc}) and {SILENT_FAILURE}"
            if log_tail:
                details["log_tail"] = self.log_tail()
                text += "; the node's log ends with:\n" + "\n".join(details["log_tail"])
        else:
            kind = error_kind(_kind_text(result.stdout, result.stderr, found))
            text = msg or f"faunadb-admin failed (rc={result.rc}): {found}"
        return AdminCommandError(text, kind=kind, faunadb_message=found, **details)

    def log_tail(self, lines=LOG_TAIL_LINES):
        """The last lines of the node's core.log (in the config's log_path), each cut short.

        What a silent failure leaves to go on: the node's own account of where
        its start-up is. Never fails; says why when the log cannot be read.
        """
        log_dir = "/var/log/faunadb"
        try:
            config = self.executor.read_file(self.config_path) if self.config_path else None
            for line in (config.content.decode("utf-8", "replace") if config else "").splitlines():
                # The launcher reads log_path by text too (surface doc item 2).
                if line.startswith("log_path:") and len(line.split()) > 1:
                    log_dir = line.split()[1]
            path = f"{log_dir.rstrip('/')}/core.log"
            log = self.executor.read_file(path)
        except Exception as exc:  # a failure path: report it, never mask the real error
            return [f"(the node's log could not be read: {exc})"]
        if log is None:
            return [f"({path} does not exist)"]
        tail = log.content.decode("utf-8", "replace").splitlines()[-lines:]
        return [
            line if len(line) <= LOG_LINE_CHARS else line[:LOG_LINE_CHARS] + " ..." for line in tail
        ]

    # Reads -----------------------------------------------------------------

    def status(self, fmt="auto"):
        """Parsed status; raises AdminCommandError(kind='not_member') before init/join.

        fmt 'auto' asks for --json and falls back to the text table when the
        binary rejects the flag (2.x) or ignores it.
        """
        if fmt in ("auto", "json"):
            result = self.run("status", json_output=True, check=False)
            if result.rc == 0:
                try:
                    return parse_status_json(result.stdout)
                except ParseError as exc:
                    if fmt == "json":
                        exc.details.update(result.as_dict())
                        raise
            else:
                err = self.error(result)
                if fmt == "json" or err.kind != "invalid_command":
                    raise err
        result = self.run("status")
        self.status_text = result.stdout
        try:
            return parse_status_text(result.stdout)
        except ParseError as exc:
            exc.details.update(result.as_dict())
            raise

    def membership(self, fmt="auto"):
        """Return the parsed status, or None when this node is not part of a cluster."""
        try:
            return self.status(fmt)
        except AdminCommandError as exc:
            if exc.kind == "not_member":
                return None
            raise

    def membership_and_movement(self, fmt="auto"):
        """membership() and movement() side by side: each is a JVM start on a real node,
        seconds apart when run one after the other.

        Returns (status, movement) where movement is a callable giving the parsed
        movement-status or raising its error, so that a caller judging the status first
        sees the status's failure, not the movement's. The status is None (and so is
        movement) when this node is not part of a cluster.
        """
        if not self.executor.concurrent:
            # One after the other, the movement only when asked for.
            status = self.membership(fmt)
            return (None, None) if status is None else (status, self.movement)
        with ThreadPoolExecutor(max_workers=1) as pool:
            moving = pool.submit(self.movement)
            status = self.membership(fmt)
        if status is None:
            return None, None
        return status, moving.result

    def replication(self):
        """Replica name -> type, from show-replication (or status on a binary without it)."""
        result = self.run("show-replication", check=False)
        if result.rc == 0:
            parsed = parse_show_replication(result.stdout)
            if parsed:
                return parsed
        else:
            err = self.error(result)
            if err.kind != "invalid_command":
                raise err
        status = self.status()
        return {r["name"]: r["type"] for r in status["replicas"]}

    def movement(self):
        return self._parsed("movement-status", parse_movement_status)

    def version(self):
        """What `host-version` says after "Fauna " (e.g. 25.02.07.dev-4f8f8be)."""
        return self._parsed("host-version", parse_host_version)

    def identity(self):
        return self._parsed("show-identity", parse_identity)

    def _parsed(self, command, parser):
        """PARSER's reading of COMMAND's stdout; a ParseError carries the command's result,
        for the module to report what the node printed."""
        result = self.run(command)
        try:
            return parser(result.stdout)
        except ParseError as exc:
            exc.details.update(result.as_dict())
            raise

