"""The plan of faunadb_node's lifecycle states, present and absent, in both deploy modes.

Pure, like the rest of the planner (faunadb_node_ops.plan hands these two
states here): from the node as read, the steps its driver (DockerNodeOps,
SystemdNodeOps) takes and the state they leave, which check mode reports and
the run confirms. Steps are faunadb_node_ops.Step objects; the step kinds
here are remove, create, remove_volume and disable, besides resume and stop.
"""

from __future__ import annotations

from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_node_container import SPEC_LABEL

STATES = ("present", "absent")


def plan_lifecycle(op, before, step, *, mode, spec=None):
    """(steps, predicted state) of present or absent; ``step`` builds a Step(kind, value).

    present (container mode): create the container when it is missing, and
    recreate it (resume, stop gracefully, remove, create) when its spec label
    is not ``spec``; an equal label leaves it alone, running or not.
    absent: container mode removes the container (killing it) and the
    volumes the state lists; service mode stops and disables the unit and
    removes its unit file (the remove step reloads systemd).
    """
    steps = []
    exists = before.get("exists")
    up = bool(before.get("running") or before.get("restarting"))
    if op == "present":
        if mode != "container" or not spec:
            raise FaunaDBError("state=present needs executor=docker and a spec")
        if not exists:
            steps.append(step("create"))
        elif (before.get("labels") or {}).get(SPEC_LABEL) != spec:
            steps += _graceful_stop(before, up, step) + [step("remove"), step("create")]
    elif mode == "container":
        if exists:
            steps.append(step("remove"))
        steps += [step("remove_volume", v) for v in before.get("volumes") or []]
    else:
        if exists:
            steps += _graceful_stop(before, up, step)
            if before.get("enabled"):
                steps.append(step("disable"))
        if before.get("_unit_file"):
            steps.append(step("remove"))
    after = dict(before)
    for each in steps:
        after = _apply(after, each, spec)
    return steps, after


def _graceful_stop(before, up, step):
    if not up:
        return []
    # A frozen process cannot shut down gracefully.
    return ([step("resume")] if before.get("paused") else []) + [step("stop")]


def _apply(state, step, spec):
    after = dict(state)
    if step.kind == "resume":
        after.update(paused=False)
    elif step.kind == "stop":
        after.update(running=False, paused=False, restarting=False)
    elif step.kind == "create":
        # Created, not started: the node's files go in before it first runs.
        after.update(exists=True, running=False, paused=False, restarting=False,
                     labels={SPEC_LABEL: spec})  # fmt: skip
    elif step.kind == "remove":
        after.update(exists=False, running=False, paused=False, restarting=False)
        if "labels" in after:
            after["labels"] = {}
        if "enabled" in after:
            after.update(enabled=None, _unit_file=None)
    elif step.kind == "remove_volume":
        after["volumes"] = [v for v in after.get("volumes") or [] if v != step.value]
    elif step.kind == "disable":
        after.update(enabled=False)
    return after


def view(state):
    """What the diff shows and the run confirms for present and absent."""
    shown = dict(exists=bool(state.get("exists")), running=bool(state.get("running")))
    if "labels" in state:
        shown["spec"] = (state.get("labels") or {}).get(SPEC_LABEL)
    if "volumes" in state:
        shown["volumes"] = list(state.get("volumes") or [])
    if "enabled" in state:
        shown["enabled"] = state.get("enabled")
    return shown


def mismatches(predicted, observed):
    want, got = view(predicted), view(observed)
    return [(key, want[key], got.get(key)) for key in want if want[key] != got.get(key)]
