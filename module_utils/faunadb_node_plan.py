"""What faunadb_node does to a node, whatever runs it: the plan and the NodeOps interface.

plan() turns a requested state and the observed one into Steps and predicts
the state they leave; NodeOps is what a driver (faunadb_node_docker,
faunadb_node_systemd) implements; run_operation() reads, plans, applies,
reads back until the node settles and reports any mismatch.
"""

from __future__ import annotations

import time

from ansible.module_utils import faunadb_node_lifecycle
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_node_parse import DEFAULT_FAKETIME_FILE, format_offset

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

# How long a confirmation may wait for the state to settle (a SIGSTOP or
# SIGCONT sent by systemctl reaches every process a moment later).
SETTLE_SECONDS = 5.0
SETTLE_INTERVAL = 0.2


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
