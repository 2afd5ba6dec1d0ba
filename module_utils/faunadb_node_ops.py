"""Node lifecycle operations, one interface for both deploy modes.

faunadb_node (and through it heal, provisioning and every chaos scenario)
asks a NodeOps for the node's state and for the few things that change it:
start, stop, restart, kill, pause, resume, skew the clock, cut the node off
its peers, restore it; and for its lifecycle create it from a spec, enable,
disable and remove it (faunadb_node_lifecycle plans present and absent,
faunadb_node_container and faunadb_node_unit hold what the two drivers do for
them). Two implementations of the one driver interface (NodeOps):

- DockerNodeOps (container mode): the Docker API, through the client the
  faunadb-admin executor builds (same docker_host, TLS and ssh:// options);
- SystemdNodeOps (service mode): systemctl, signals, /proc and iptables on
  the host the module runs on (the node itself, with become).

What is pure (offsets, the skew file, /proc stat, iptables rules, the plan
of an operation and the state it predicts) is a plain function here, so unit
tests need no engine and no systemd.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import shlex
import shutil
import tarfile
import time

from ansible.module_utils import (
    faunadb_executor,
    faunadb_node_container,
    faunadb_node_lifecycle,
    faunadb_node_unit,
)
from ansible.module_utils.faunadb_common import FaunaDBError, replace_file
from ansible.module_utils.faunadb_executor import (
    HAS_DOCKER,
    ExecutorError,
    LocalExecutor,
    _is_transport_error,
)

if HAS_DOCKER:
    import docker.errors

# What the module's `state` may ask for. probe only reads; restarted always acts.
STATES = (
    "probe",
    "started",
    "stopped",
    "restarted",
    "killed",
    "paused",
    "resumed",
    "skewed",
    "unskewed",
    "cut_off",
    "restored",
    "healed",
    "present",
    "absent",
)
# The dimensions of a node that the diff shows and the plan predicts.
DIFF_KEYS = ("running", "paused", "skew", "cut_off")

DEFAULT_FAKETIME_FILE = "/etc/faunadb/faketime.rc"
# Peer (cleartext and TLS) and API ports: what other nodes and the load
# balancer use. The admin port (8444) listens on 127.0.0.1 only.
DEFAULT_CUT_OFF_PORTS = (7500, 7501, 8443)
# Every iptables rule cut_off adds carries this comment; restored removes
# exactly the rules that carry it.
RULE_COMMENT = "faunadb_node cut_off"

# How long a confirmation may wait for the state to settle (a SIGSTOP or
# SIGCONT sent by systemctl reaches every process a moment later).
SETTLE_SECONDS = 5.0
SETTLE_INTERVAL = 0.2


# The engine's stop timeout for a container created without one.
DOCKER_STOP_TIMEOUT = 10


# -- Pure helpers: clock skew ---------------------------------------------------------

_OFFSET_RE = re.compile(r"^([+-]?)(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# libfaketime's relative form: a signed (fractional) number, then an optional
# multiplier (m, h, d, y); it ignores a trailing "s".
_SKEW_FILE_RE = re.compile(r"^([+-])(\d+(?:\.\d+)?)\s*([smhdy]?)$")
_SKEW_FILE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
# A skew of more than this is a typo, not a fault worth injecting.
MAX_OFFSET_SECONDS = 366 * 86400


def parse_offset(text):
    """Seconds of a requested skew: ``+300s``, ``-30s``, ``+5m``, ``+1h``, ``+2d``, ``300``, ``+0``.

    Raises FaunaDBError on anything else, before the module changes anything.
    """
    if isinstance(text, bool) or text is None:
        raise FaunaDBError(f"offset must be a signed duration such as +300s or -30s, got {text!r}")
    value = str(text).strip()
    match = _OFFSET_RE.match(value)
    if not match:
        raise FaunaDBError(
            f"offset {value!r} is not a duration: expected an optional sign, whole number and "
            "unit s, m, h or d (for example +300s, -30s, +5m)"
        )
    sign, number, unit = match.groups()
    seconds = int(number) * _UNIT_SECONDS[unit]
    if seconds > MAX_OFFSET_SECONDS:
        raise FaunaDBError(f"offset {value!r} is more than a year; refusing")
    return -seconds if sign == "-" else seconds


def format_offset(seconds):
    """The skew file's text for an offset in seconds (libfaketime's relative form)."""
    return f"{'-' if seconds < 0 else '+'}{abs(int(seconds))}\n"


def parse_skew_file(text):
    """Seconds of skew the timestamp file asks libfaketime for, or None when it is not a
    relative offset (empty, an absolute date, a speed factor...)."""
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SKEW_FILE_RE.match(line)
        if not match:
            return None
        sign, number, unit = match.groups()
        seconds = round(float(number) * _SKEW_FILE_UNITS[unit])
        return -seconds if sign == "-" else seconds
    return None


def clock_hook(env):
    """Whether libfaketime is preloaded and which timestamp file it reads, from an env dict."""
    preload = env.get("LD_PRELOAD", "")
    return dict(
        preloaded="faketime" in preload,
        file=env.get("FAKETIME_TIMESTAMP_FILE") or None,
    )


# -- Pure helpers: processes ----------------------------------------------------------


def proc_stat_state(stat_text):
    """The state letter of a /proc/PID/stat line (R, S, D, T, Z...), or None.

    The command name (field 2) is in parentheses and may itself contain spaces
    and parentheses, so the state is the first field after the *last* ')'.
    """
    text = (stat_text or "").strip()
    end = text.rfind(")")
    if end < 0:
        return None
    rest = text[end + 1 :].split()
    return rest[0] if rest else None


def frozen(states):
    """(any, all) of the processes stopped by a signal (state T): a SIGSTOPped node."""
    states = [s for s in states if s]
    stopped = [s == "T" for s in states]
    return any(stopped), bool(stopped) and all(stopped)


def parse_systemctl_show(text):
    """`systemctl show -p A,B` output as a dict (values may contain '=')."""
    props = {}
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep:
            props[name.strip()] = value
    return props


def parse_environment(value):
    """systemd's Environment property (space separated, shell-quoted) as a dict."""
    env = {}
    try:
        words = shlex.split(value or "")
    except ValueError:
        words = (value or "").split()
    for word in words:
        name, sep, val = word.partition("=")
        if sep:
            env[name] = val
    return env


def cgroup_procs_paths(control_group, root="/sys/fs/cgroup"):
    """Where the unit's cgroup lists its processes: cgroup v2, hybrid, then v1's systemd tree."""
    if not control_group:
        return []
    return [
        f"{root}{control_group}/cgroup.procs",
        f"{root}/unified{control_group}/cgroup.procs",
        f"{root}/systemd{control_group}/cgroup.procs",
    ]


# -- Pure helpers: iptables -----------------------------------------------------------


def validate_peers(peers):
    """Peer addresses as ipaddress objects; FaunaDBError naming the bad one."""
    found = []
    for peer in peers or []:
        try:
            found.append(ipaddress.ip_address(str(peer).strip()))
        except ValueError:
            raise FaunaDBError(f"peers: {peer!r} is not an IP address") from None
    return found


def validate_ports(ports):
    bad = [p for p in ports or [] if not isinstance(p, int) or not 0 < p < 65536]
    if bad or not ports:
        raise FaunaDBError(f"cut_off_ports must be TCP/UDP port numbers, got {ports!r}")
    if len(ports) > 15:
        # iptables' multiport match takes at most 15 ports.
        raise FaunaDBError(f"cut_off_ports: at most 15 ports, got {len(ports)}")
    return sorted(set(ports))


class Rule:
    """One DROP rule of a cut-off: traffic to or from one peer on the given ports."""

    def __init__(self, chain, address, proto, ports):
        self.chain = chain  # INPUT (from the peer) or OUTPUT (to the peer)
        self.address = ipaddress.ip_network(address)  # a /32 or /128
        self.proto = proto
        self.ports = ",".join(str(p) for p in ports) if not isinstance(ports, str) else ports

    @property
    def family(self):
        return "ip6tables" if self.address.version == 6 else "iptables"

    def key(self):
        flag = "-s" if self.chain == "INPUT" else "-d"
        where = f"{self.chain} {flag} {self.address}"
        return f"{self.family} {where} -p {self.proto} --ports {self.ports}"

    def spec(self):
        """The rule's match and target, as iptables takes them after -I/-D CHAIN."""
        flag = "-s" if self.chain == "INPUT" else "-d"
        return [
            flag, str(self.address), "-p", self.proto, "-m", "multiport", "--ports", self.ports,
            "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP",
        ]  # fmt: skip

    def __eq__(self, other):
        return isinstance(other, Rule) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return f"Rule({self.key()})"


def cut_off_rules(peers, ports):
    """The rules that cut this node off from every peer: both directions, TCP and UDP."""
    ports = validate_ports(list(ports))
    rules = []
    for peer in validate_peers(peers):
        for chain in ("INPUT", "OUTPUT"):
            for proto in ("tcp", "udp"):
                rules.append(Rule(chain, peer, proto, ports))
    return rules


def iptables_argv(rule, action):
    """argv to insert (at the top, before any ACCEPT) or delete one rule."""
    if action == "add":
        return [rule.family, "-w", "5", "-I", rule.chain, "1", *rule.spec()]
    return [rule.family, "-w", "5", "-D", rule.chain, *rule.spec()]


def parse_tagged_rules(listing, family="iptables"):
    """The cut-off rules (tagged with RULE_COMMENT) in `iptables -S` output.

    Rules without the tag, or tagged ones this module could not have written,
    are left alone.
    """
    rules = []
    for line in (listing or "").splitlines():
        if RULE_COMMENT not in line:
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) < 2 or words[0] != "-A" or words[1] not in ("INPUT", "OUTPUT"):
            continue
        opts = _options(words[2:])
        address = opts.get("-s") if words[1] == "INPUT" else opts.get("-d")
        if not (address and opts.get("-p") and opts.get("--ports")):
            continue
        if opts.get("--comment") != RULE_COMMENT or opts.get("-j") != "DROP":
            continue
        try:
            rule = Rule(words[1], address, opts["-p"], opts["--ports"])
        except ValueError:
            continue
        if rule.family == family:
            rules.append(rule)
    return rules


def _options(words):
    opts = {}
    it = iter(words)
    for word in it:
        if word.startswith("-"):
            opts[word] = next(it, None)
    return opts


# -- Pure helpers: plan ---------------------------------------------------------------


class Step:
    """One change: kind (start, stop, restart, kill, pause, resume, skew, cut_off, restore;
    and for the lifecycle create, remove, remove_volume, enable, disable)."""

    def __init__(self, kind, value=None):
        self.kind = kind
        self.value = value

    def describe(self):
        if self.kind == "skew":
            return f"skew {format_offset(self.value).strip()}"
        return self.kind if self.value is None else f"{self.kind} {self.value}"

    def __eq__(self, other):
        return isinstance(other, Step) and (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self):
        return hash((self.kind, self.value))

    def __repr__(self):
        return f"Step({self.describe()})"


def diff_view(state):
    keys = DIFF_KEYS + (("enabled",) if "enabled" in state else ())
    return {key: state.get(key) for key in keys}


def apply_step(state, step):
    """The state a step leaves (for check mode's prediction and the confirmation)."""
    after = dict(state)
    if step.kind in ("start", "restart"):
        after.update(running=True, paused=False, restarting=False)
    elif step.kind in ("stop", "kill"):
        after.update(running=False, paused=False, restarting=False)
    elif step.kind == "pause":
        after.update(paused=True)
    elif step.kind == "resume":
        after.update(paused=False)
    elif step.kind == "skew":
        after.update(skew=step.value)
    elif step.kind == "cut_off":
        after.update(cut_off=True)
    elif step.kind == "restore":
        after.update(cut_off=False)
    elif step.kind == "enable":
        after.update(enabled=True)
    return after


def _needs_unskew(state):
    # A missing file means no skew (libfaketime falls back to the real clock).
    return state.get("skew_text") is not None and state.get("skew") != 0


def _up(state):
    # A node its supervisor is restarting right now counts as started.
    return bool(state.get("running") or state.get("restarting"))


def plan(op, before, *, offset=None, cut_off_current=True, can_restore=True, spec=None,
         mode="container"):  # fmt: skip
    """The steps that bring a node from ``before`` to what ``op`` asks, and the state predicted.

    ``cut_off_current`` says whether an existing cut-off is already the one
    asked for (service mode compares rule sets; container mode: disconnected).
    Raises FaunaDBError for what cannot be done, before anything changes.
    present and absent (the wanted ``spec`` label, the deploy ``mode``) are
    planned in faunadb_node_lifecycle.
    """
    if op in faunadb_node_lifecycle.STATES:
        return faunadb_node_lifecycle.plan_lifecycle(op, before, Step, mode=mode, spec=spec)
    if not before.get("exists"):
        if op == "probe":
            return [], dict(before)
        raise FaunaDBError(f"{before.get('node', 'the node')} does not exist: cannot make it {op}")
    steps = []
    if op == "started":
        # Service mode enables the unit too (container mode has no enabled).
        if before.get("enabled") is False:
            steps.append(Step("enable"))
        if not _up(before):
            steps.append(Step("start"))
    elif op == "restarted":
        # Always an action: a running node is restarted (a frozen one is
        # resumed first, it could not shut down), a stopped one is started.
        if _up(before):
            if before.get("paused"):
                steps.append(Step("resume"))
            steps.append(Step("restart"))
        else:
            steps.append(Step("start"))
    elif op in ("stopped", "killed"):
        if _up(before):
            if op == "stopped" and before.get("paused"):
                # A frozen process cannot shut down gracefully.
                steps.append(Step("resume"))
            steps.append(Step("stop" if op == "stopped" else "kill"))
    elif op == "paused":
        if not before.get("running"):
            raise FaunaDBError(f"{before.get('node')} is not running: there is nothing to pause")
        if not before.get("paused") or before.get("pause_partial"):
            steps.append(Step("pause"))
    elif op == "resumed" and before.get("paused"):
        steps.append(Step("resume"))
    elif op == "skewed":
        hook = before.get("clock_hook") or {}
        if not hook.get("preloaded"):
            raise FaunaDBError(
                f"{before.get('node')} does not preload libfaketime (LD_PRELOAD): a skew would "
                "have no effect (provision it with faunadb_clock_faults: true)"
            )
        if hook.get("file") != before.get("faketime_file"):
            where = (
                f"reads its skew from {hook['file']}" if hook.get("file")
                else "names no timestamp file (FAKETIME_TIMESTAMP_FILE)"
            )  # fmt: skip
            raise FaunaDBError(
                f"{before.get('node')} {where}, not faketime_file="
                f"{before.get('faketime_file')}: a skew written there would have no effect"
            )
        if before.get("skew") != offset or before.get("skew_text") is None:
            steps.append(Step("skew", offset))
    elif op == "unskewed" and _needs_unskew(before):
        steps.append(Step("skew", 0))
    elif op == "cut_off" and not (before.get("cut_off") and cut_off_current):
        steps.append(Step("cut_off"))
    elif op == "restored" and before.get("cut_off"):
        steps.append(Step("restore"))
    elif op == "healed":
        if before.get("paused"):
            steps.append(Step("resume"))
        if before.get("cut_off") and can_restore:
            steps.append(Step("restore"))
        if _needs_unskew(before):
            steps.append(Step("skew", 0))
        if not _up(before):
            steps.append(Step("start"))
    after = dict(before)
    for step in steps:
        after = apply_step(after, step)
    return steps, after


def mismatches(predicted, observed):
    """Dimensions where the node did not end up as planned: [(key, wanted, found)]."""
    found = []
    for key in DIFF_KEYS:
        want, got = predicted.get(key), observed.get(key)
        if key == "running" and want and observed.get("restarting"):
            continue
        if want != got:
            found.append((key, want, got))
    return found


# -- The interface ----------------------------------------------------------------------


class NodeOps:
    """What faunadb_node needs from a node, whatever runs it.

    read() returns the observed state (see RETURN of faunadb_node); every
    other method changes one thing and records the command (or the Docker
    CLI equivalent of the API call) in ``commands``.
    """

    mode = "abstract"

    def __init__(self, faketime_file=DEFAULT_FAKETIME_FILE):
        self.faketime_file = faketime_file
        self.commands = []

    def describe(self):
        raise NotImplementedError

    def read(self):
        raise NotImplementedError

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def restart(self):
        """Stop gracefully (as stop does) and start again."""
        raise NotImplementedError

    def kill(self):
        raise NotImplementedError

    def pause(self):
        raise NotImplementedError

    def resume(self):
        raise NotImplementedError

    def write_skew(self, seconds):
        raise NotImplementedError

    def cut_off(self):
        raise NotImplementedError

    def restore(self):
        raise NotImplementedError

    # The lifecycle (present, absent; started enables a unit).

    def create(self):
        """Create the node from its spec, not started (container mode)."""
        raise NotImplementedError

    def remove(self):
        """Remove the node: the container (killed if it runs), or the unit file."""
        raise NotImplementedError

    def remove_volume(self, name):
        raise NotImplementedError

    def enable(self):
        raise NotImplementedError

    def disable(self):
        raise NotImplementedError

    def wanted_spec(self):
        """The spec label present asks for, or None."""
        return None

    def reload_if_needed(self, forced=False):
        """Make the supervisor read a changed unit file before the node is read (service mode)."""
        return False

    def cut_off_current(self, state):
        """Whether the node's present cut-off is the one this module would make."""
        return bool(state.get("cut_off"))

    def can_restore(self):
        return True

    def file_executor(self):
        """The faunadb_executor.Executor that reads and writes files on the node."""
        raise NotImplementedError

    def apply(self, step):
        if step.kind == "skew":
            self.write_skew(step.value)
        elif step.value is not None:
            getattr(self, step.kind)(step.value)
        else:
            getattr(self, step.kind)()


def run_operation(ops, op, *, offset=None, check_mode=False, sleep=time.sleep,
                  clock=time.monotonic):  # fmt: skip
    """Read, plan, act (unless check mode), read back and confirm. Returns a result dict."""
    first = len(ops.commands)
    before = ops.read()
    steps, predicted = plan(
        op, before, offset=offset, cut_off_current=ops.cut_off_current(before),
        can_restore=ops.can_restore(), spec=ops.wanted_spec(), mode=ops.mode,
    )  # fmt: skip
    lifecycle = op in faunadb_node_lifecycle.STATES
    view = faunadb_node_lifecycle.view if lifecycle else diff_view
    compare = faunadb_node_lifecycle.mismatches if lifecycle else mismatches
    actions = [s.describe() for s in steps]
    if not steps or check_mode:
        after = predicted
        observed = before
    else:
        for step in steps:
            ops.apply(step)
        observed = _settle(ops, predicted, sleep, clock, compare)
        after = observed
        wrong = compare(predicted, observed)
        if wrong:
            what = ", ".join(f"{k} is {g!r} (wanted {w!r})" for k, w, g in wrong)
            hint = ""
            if ("running", True, False) in wrong and observed.get("exit_code") is not None:
                hint = f"; it exited with code {observed['exit_code']}"
            raise FaunaDBError(
                f"After {', '.join(actions)} on {ops.describe()}: {what}{hint}",
                actions=actions, commands=ops.commands[first:], changed=True,
                **_public(observed),
            )  # fmt: skip
    result = dict(_public(observed), changed=bool(steps), actions=actions,
                  commands=ops.commands[first:])  # fmt: skip
    result["diff"] = dict(before=view(before), after=view(after))
    return result


def _settle(ops, predicted, sleep, clock, compare=mismatches):
    observed = ops.read()
    deadline = clock() + SETTLE_SECONDS
    while compare(predicted, observed) and clock() < deadline:
        sleep(SETTLE_INTERVAL)
        observed = ops.read()
    return observed


def _public(state):
    return {k: v for k, v in state.items() if not k.startswith("_") and k != "node"}


# -- Container mode -------------------------------------------------------------------


def container_state(inspect, network=None):
    """The observed state from `docker inspect` (None: no such container)."""
    if inspect is None:
        return dict(exists=False, running=False, paused=False, restarting=False, exit_code=None,
                    pid=None, status="absent", cut_off=None, networks=[], address=None,
                    restart_count=None, clock_hook=dict(preloaded=False, file=None),
                    labels={})  # fmt: skip
    st = inspect.get("State") or {}
    restarting = bool(st.get("Restarting"))
    running = bool(st.get("Running")) and not restarting
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    config = inspect.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    attached = networks.get(network) if network else None
    return dict(
        exists=True,
        running=running,
        paused=bool(st.get("Paused")) and running,
        restarting=restarting,
        exit_code=None if running else st.get("ExitCode"),
        pid=st.get("Pid") or None,
        status=st.get("Status"),
        networks=sorted(networks),
        cut_off=(attached is None) if network else None,
        address=(attached or {}).get("IPAddress") or None,
        restart_count=inspect.get("RestartCount"),
        clock_hook=clock_hook(env),
        labels=dict(config.get("Labels") or {}),
    )


def skew_archive(path, seconds):
    """A tar holding the skew file (root-owned, 0644: the node's user only reads it)."""
    data = format_offset(seconds).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size = len(data)
        info.mode = 0o644
        info.uid = info.gid = 0
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def file_from_archive(chunks):
    """The text of the single file in a tar stream (what get_archive returns)."""
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                return tar.extractfile(member).read().decode("utf-8", errors="replace")
    return ""


class DockerNodeOps(NodeOps):
    """A node that is a container, driven through the Docker API.

    kill is `docker kill` (SIGKILL): the engine counts it as a manual stop,
    so a restart policy (unless-stopped, always, on-failure) does not bring
    the container back. cut_off disconnects the container from its network;
    restore reconnects it with its fixed address.
    """

    mode = "container"

    def __init__(self, executor, *, network=None, address=None,
                 faketime_file=DEFAULT_FAKETIME_FILE, stop_timeout=None, spec=None,
                 volumes=()):  # fmt: skip
        super().__init__(faketime_file)
        self.executor = executor  # a faunadb_executor.DockerExecutor: client and its options
        self.name = executor.container_name
        self.network = network
        self.address = address
        self.stop_timeout = stop_timeout
        self.spec = spec  # what present creates the container from
        self.volumes = list(volumes)  # the named volumes absent removes

    def describe(self):
        return self.executor.describe()

    def _api(self, what, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ExecutorError:
            raise
        except Exception as exc:
            raise self._error(what, exc) from None

    def _error(self, what, exc):
        """The FaunaDBError to report for a failed Docker call (unexpected ones unchanged)."""
        details = dict(container=self.name, docker_host=self.executor.docker_host)
        if HAS_DOCKER and isinstance(exc, docker.errors.APIError):
            text = exc.explanation or str(exc)
            if isinstance(exc, docker.errors.NotFound):
                return FaunaDBError(f"{what}: {text}", **details)
            return FaunaDBError(f"{what} failed on {self.describe()}: {text}",
                                status_code=getattr(exc, "status_code", None), **details)
        if _is_transport_error(exc):
            return self.executor._unreachable(exc)
        return exc

    @property
    def _client(self):
        return self.executor._get_client()

    def read(self):
        inspect = self._optional("docker inspect", self._client.api.inspect_container, self.name)
        state = container_state(inspect, self.network)
        state["node"] = self.describe()
        state["faketime_file"] = self.faketime_file
        state["skew_text"] = self._read_skew() if inspect else None
        state["skew"] = parse_skew_file(state["skew_text"])
        if self.volumes:
            state["volumes"] = faunadb_node_container.present_volumes(self, self.volumes)
        return state

    def _optional(self, what, call, *args):
        """call(*args), or None when the engine answers 404 (no such container or path)."""
        try:
            return call(*args)
        except ExecutorError:
            raise
        except Exception as exc:
            if HAS_DOCKER and isinstance(exc, docker.errors.NotFound):
                return None
            raise self._error(what, exc) from None

    def _read_skew(self):
        stream = self._optional(f"reading {self.faketime_file}", self._client.api.get_archive,
                                self.name, self.faketime_file)  # fmt: skip
        return None if stream is None else file_from_archive(stream[0])

    def _do(self, cli, what, call, *args, **kwargs):
        self.commands.append(cli)
        return self._api(what, call, *args, **kwargs)

    def start(self):
        self._do(f"docker start {self.name}", "docker start", self._client.api.start, self.name)

    def stop(self):
        kwargs = {} if self.stop_timeout is None else {"timeout": self.stop_timeout}
        cli = "docker stop" + (f" --time {self.stop_timeout}" if kwargs else "")
        self._do(f"{cli} {self.name}", "docker stop", self._client.api.stop, self.name, **kwargs)

    def restart(self):
        api = self._client.api
        timeout = self.stop_timeout
        if timeout is None:
            # The engine's own restart without -t uses the container's stop
            # timeout; docker-py always sends one (10 s by default), so read it.
            inspect = self._api("docker inspect", api.inspect_container, self.name)
            timeout = (inspect.get("Config") or {}).get("StopTimeout")
            timeout = DOCKER_STOP_TIMEOUT if timeout is None else timeout
            cli = f"docker restart {self.name}"
        else:
            cli = f"docker restart --time {timeout} {self.name}"
        self._do(cli, "docker restart", api.restart, self.name, timeout=timeout)

    def kill(self):
        api = self._client.api
        inspect = self._api("docker inspect", api.inspect_container, self.name)
        if (inspect.get("State") or {}).get("Restarting"):
            # A container between two tries of its restart policy has no
            # process to kill; stopping it cancels the next try.
            self._do(f"docker stop --time 0 {self.name}", "docker stop", api.stop, self.name,
                     timeout=0)  # fmt: skip
            return
        self._do(f"docker kill --signal SIGKILL {self.name}", "docker kill", api.kill, self.name,
                 signal="SIGKILL")  # fmt: skip

    def pause(self):
        self._do(f"docker pause {self.name}", "docker pause", self._client.api.pause, self.name)

    def resume(self):
        self._do(f"docker unpause {self.name}", "docker unpause", self._client.api.unpause,
                 self.name)  # fmt: skip

    def write_skew(self, seconds):
        directory = os.path.dirname(self.faketime_file) or "/"
        self.commands.append(
            f"docker cp - {self.name}:{directory}  # {os.path.basename(self.faketime_file)}: "
            f"{format_offset(seconds).strip()}"
        )
        ok = self._api(
            f"writing {self.faketime_file}", self._client.api.put_archive, self.name, directory,
            skew_archive(self.faketime_file, seconds),
        )  # fmt: skip
        if ok is False:
            raise FaunaDBError(f"The Docker engine refused to write {self.faketime_file} into "
                               f"{self.describe()}")  # fmt: skip

    def cut_off(self):
        self._need_network("cut_off")
        self._do(
            f"docker network disconnect {self.network} {self.name}", "docker network disconnect",
            self._client.api.disconnect_container_from_network, self.name, self.network,
        )  # fmt: skip

    def restore(self):
        self._need_network("restored")
        ip = f" --ip {self.address}" if self.address else ""
        kwargs = {"ipv4_address": self.address} if self.address else {}
        self._do(
            f"docker network connect{ip} {self.network} {self.name}", "docker network connect",
            self._client.api.connect_container_to_network, self.name, self.network, **kwargs,
        )  # fmt: skip

    def can_restore(self):
        return bool(self.network)

    def wanted_spec(self):
        if not self.spec:
            return None
        return faunadb_node_container.wanted_labels(self.spec)[faunadb_node_container.SPEC_LABEL]

    def create(self):
        faunadb_node_container.create(self, self.spec)

    def remove(self):
        faunadb_node_container.remove(self)

    def remove_volume(self, name):
        faunadb_node_container.remove_volume(self, name)

    def file_executor(self):
        return self.executor

    def _need_network(self, op):
        if not self.network:
            raise FaunaDBError(f"state={op} in container mode needs network (the project network)")


# -- Service mode ---------------------------------------------------------------------

_SHOW_PROPS = (
    "LoadState", "ActiveState", "SubState", "MainPID", "ExecMainStatus", "ExecMainCode",
    "ControlGroup", "Environment", "NRestarts", *faunadb_node_unit.SHOW_PROPS,
)  # fmt: skip
# ExecMainCode is a siginfo code: 1 exited, 2 killed, 3 dumped core.
_CLD_CODES = ("1", "2", "3")
_CLD_KILLED = ("2", "3")


class SystemdNodeOps(NodeOps):
    """A node that is a systemd service on this host (the module runs on the node, as root).

    kill sends SIGKILL to every process of the unit, then stops the unit: the
    unit's Restart=on-failure would otherwise start it again two seconds
    later, and a chaos kill must keep the node down until something starts
    it (what `docker kill` does to a restart policy). pause/resume send
    SIGSTOP/SIGCONT to the unit's processes; a frozen unit still counts as
    active for systemd, so paused is read from /proc (state T). cut_off adds
    iptables DROP rules, tagged with a comment, between this node and each
    peer; restore deletes exactly the tagged rules.
    """

    mode = "service"

    def __init__(self, runner=None, *, service="faunadb", peers=(),
                 ports=DEFAULT_CUT_OFF_PORTS, faketime_file=DEFAULT_FAKETIME_FILE,
                 timeout=120, proc_root="/proc", cgroup_root="/sys/fs/cgroup",
                 which=shutil.which, unit_dir=faunadb_node_unit.UNIT_DIR):  # fmt: skip
        super().__init__(faketime_file)
        self.runner = runner or LocalExecutor()
        self.service = service
        self.peers = list(peers or [])
        self.ports = list(ports)
        self.timeout = timeout
        self.proc_root = proc_root
        self.cgroup_root = cgroup_root
        self.which = which
        self.unit_file = faunadb_node_unit.unit_path(service, unit_dir)

    def describe(self):
        return f"service {self.service}"

    def _run(self, argv, *, record=False, check=True):
        if record:
            self.commands.append(" ".join(shlex.quote(a) for a in argv))
        rc, out, err = self.runner.run(argv, timeout=self.timeout)
        if check and rc != 0:
            raise FaunaDBError(
                f"{' '.join(argv[:3])}... failed (rc={rc}): {(err or out).strip()}",
                cmd=" ".join(shlex.quote(a) for a in argv), rc=rc, stdout=out, stderr=err,
            )  # fmt: skip
        return rc, out, err

    # reading

    def _show(self):
        """The unit's properties (systemctl show)."""
        _, out, _ = self._run(["systemctl", "show", "-p", ",".join(_SHOW_PROPS), self.service])
        return parse_systemctl_show(out)

    def read(self):
        props = self._show()
        exists = props.get("LoadState") not in (None, "", "not-found")
        main_pid = int(props.get("MainPID") or 0)
        active = props.get("ActiveState", "")
        sub = props.get("SubState", "")
        restarting = sub == "auto-restart"
        running = main_pid > 0 or (active in ("active", "reloading") and not restarting)
        states = [self._proc_state(pid) for pid in self._pids(props, main_pid)]
        any_t, all_t = frozen(states)
        exit_code = None
        code, status = props.get("ExecMainCode", ""), props.get("ExecMainStatus", "")
        # Code 0: systemd kept no exit (never ran, or the exit came with a stop job).
        if not running and code in _CLD_CODES and status.isdigit():
            exit_code = 128 + int(status) if code in _CLD_KILLED else int(status)
        rules = self._tagged_rules()
        state = dict(
            node=f"service {self.service}",
            exists=exists,
            running=running,
            paused=running and any_t,
            pause_partial=running and any_t and not all_t,
            restarting=restarting,
            exit_code=exit_code,
            pid=main_pid or None,
            status=f"{active}/{sub}" if exists else "absent",
            restart_count=int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else None,
            cut_off=None if rules is None else bool(rules),
            cut_off_rules=None if rules is None else sorted(r.key() for r in rules),
            clock_hook=clock_hook(parse_environment(props.get("Environment", ""))),
            faketime_file=self.faketime_file,
        )
        state["_rules"] = rules or []
        state.update(faunadb_node_unit.unit_facts(props, self.unit_file, exists))
        state["skew_text"] = self._read_file(self.faketime_file)
        state["skew"] = parse_skew_file(state["skew_text"])
        return state

    def _pids(self, props, main_pid):
        for path in cgroup_procs_paths(props.get("ControlGroup"), self.cgroup_root):
            text = self._read_file(path, optional=True)
            if text is not None:
                pids = [int(p) for p in text.split() if p.isdigit()]
                if pids:
                    return pids
        return [main_pid] if main_pid else []

    def _proc_state(self, pid):
        return proc_stat_state(self._read_file(f"{self.proc_root}/{pid}/stat", optional=True))

    @staticmethod
    def _read_file(path, optional=False):
        """The file's text; None when it does not exist (or, if optional, cannot be read:
        a process that has just gone, a cgroup layout this host does not have)."""
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            if optional:
                return None
            raise FaunaDBError(f"Cannot read {path}: {exc}") from None

    def _tagged_rules(self):
        """The cut-off rules present, or None when iptables is not installed."""
        if not self.which("iptables"):
            return None
        found = []
        for family in ("iptables", "ip6tables"):
            if not self.which(family):
                continue
            for chain in ("INPUT", "OUTPUT"):
                _, out, _ = self._run([family, "-w", "5", "-S", chain])
                found += parse_tagged_rules(out, family)
        return found

    # changing

    def _systemctl(self, *args):
        self._run(["systemctl", *args, self.service], record=True)

    def start(self):
        self._systemctl("start")

    def stop(self):
        self._systemctl("stop")

    def restart(self):
        self._systemctl("restart")

    def kill(self):
        # Fails only when the unit has no process left (between two restarts).
        self._run(["systemctl", "kill", "--signal=SIGKILL", self.service], record=True,
                  check=False)  # fmt: skip
        # Cancels the restart that Restart=on-failure has just scheduled.
        self._systemctl("stop")

    def pause(self):
        self._systemctl("kill", "--signal=SIGSTOP")

    def resume(self):
        self._systemctl("kill", "--signal=SIGCONT")

    def write_skew(self, seconds):
        path = self.faketime_file
        self.commands.append(f"write {path}: {format_offset(seconds).strip()}")
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise FaunaDBError(f"Cannot read {path}: {exc}") from None
        text = format_offset(seconds).encode()
        try:
            # Atomic: libfaketime re-reads the file every second.
            replace_file(
                path, lambda handle: handle.write(text), prefix=".faketime.",
                mode=0o644 if current is None else current.st_mode & 0o7777,
                owner=None if current is None else (current.st_uid, current.st_gid),
            )  # fmt: skip
        except OSError as exc:
            raise FaunaDBError(f"Cannot write {path}: {exc}") from None

    def wanted_rules(self):
        return cut_off_rules(self.peers, self.ports)

    def cut_off_current(self, state):
        return set(state.get("_rules") or []) == set(self.wanted_rules())

    def cut_off(self):
        if not self.peers:
            raise FaunaDBError("state=cut_off in service mode needs peers (the other nodes)")
        self._need_iptables()
        present = set(self._tagged_rules() or [])
        wanted = self.wanted_rules()
        for rule in wanted:
            if rule not in present:
                self._run(iptables_argv(rule, "add"), record=True)
        for rule in present - set(wanted):
            self._run(iptables_argv(rule, "delete"), record=True)

    def restore(self):
        self._need_iptables()
        for rule in self._tagged_rules() or []:
            self._run(iptables_argv(rule, "delete"), record=True)

    def can_restore(self):
        return True

    def enable(self):
        self._systemctl("enable")

    def disable(self):
        self._systemctl("disable")

    def remove(self):
        faunadb_node_unit.remove(self)

    def reload_if_needed(self, forced=False):
        return faunadb_node_unit.reload_if_needed(self, forced)

    def file_executor(self):
        return self.runner

    def _need_iptables(self):
        if not self.which("iptables"):
            raise FaunaDBError("iptables is not installed on this node: cannot cut it off")
        for peer in validate_peers(self.peers):
            if peer.version == 6 and not self.which("ip6tables"):
                raise FaunaDBError(f"ip6tables is not installed: cannot cut off {peer}")


# -- Building one from the module's options ----------------------------------------------


def make_node_ops(module):
    """DockerNodeOps for executor=docker, SystemdNodeOps for executor=local."""
    params = module.params
    faketime_file = params.get("faketime_file") or DEFAULT_FAKETIME_FILE
    if params["executor"] == "docker":
        return DockerNodeOps(
            faunadb_executor.make_executor(module),
            network=params.get("network"),
            address=params.get("address"),
            faketime_file=faketime_file,
            stop_timeout=params.get("stop_timeout"),
            spec=params.get("spec"),
            volumes=faunadb_node_container.data_volumes(params["container"])
            if params.get("state") == "absent" and not params.get("keep_data") else (),
        )
    return SystemdNodeOps(
        service=params.get("service") or "faunadb",
        peers=params.get("peers") or [],
        ports=params.get("cut_off_ports") or DEFAULT_CUT_OFF_PORTS,
        faketime_file=faketime_file,
        timeout=params.get("command_timeout") or 120,
    )
