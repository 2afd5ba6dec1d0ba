"""Service mode of faunadb_node: a node that is a systemd service on the host the module runs on.

SystemdNodeOps uses systemctl, signals, /proc and iptables on the node itself
(the module runs there, with become); what it reads is interpreted by
faunadb_node_parse and faunadb_node_rules.
"""

from __future__ import annotations

import os
import shlex
import shutil

from ansible.module_utils import faunadb_node_unit
from ansible.module_utils.faunadb_common import FaunaDBError, replace_file
from ansible.module_utils.faunadb_executor import LocalExecutor
from ansible.module_utils.faunadb_node_parse import (
    DEFAULT_FAKETIME_FILE,
    cgroup_procs_paths,
    clock_hook,
    format_offset,
    frozen,
    parse_environment,
    parse_skew_file,
    parse_systemctl_show,
    proc_stat_state,
)
from ansible.module_utils.faunadb_node_plan import NodeOps
from ansible.module_utils.faunadb_node_rules import (
    DEFAULT_CUT_OFF_PORTS,
    cut_off_rules,
    iptables_argv,
    parse_tagged_rules,
    validate_peers,
)

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
