# Shared pieces of the faunadb_* modules: the connection argument spec, the
# error types every helper raises, input validation, and atomic file writes.
"""Common argument spec, errors, validation and file writes for the faunadb_* modules."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile

from ansible.module_utils.basic import env_fallback

REPLICA_TYPES = ("compute", "data", "data+log")

# FaunaDB's own rule; letters may be any Unicode letter, hence [^\W_] rather
# than [A-Za-z] (Python's \w is Unicode-aware for str patterns).
_NAME_PART = r"[^\W_][\w-]*"
REPLICA_NAME_RE = re.compile(rf"^{_NAME_PART}(?:/{_NAME_PART})?$")

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def faunadb_argument_spec(extra=None):
    """Return the connection options every faunadb_* module accepts, merged with extra.

    Their documentation is the doc fragment plugins/doc_fragments/faunadb.py
    (extends_documentation_fragment: faunadb); a unit test keeps the two in
    step.
    """
    spec = dict(
        executor=dict(type="str", default="local", choices=["local", "docker"]),
        container=dict(type="str"),
        docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
        docker_timeout=dict(type="int", default=180),
        # Docker's own variables, as the docker CLI and community.docker read them.
        docker_tls=dict(type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS"])),
        docker_validate_certs=dict(
            type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS_VERIFY"])
        ),
        docker_ca_path=dict(type="path"),
        docker_client_cert=dict(type="path"),
        docker_client_key=dict(type="path", no_log=False),
        docker_use_ssh_client=dict(type="bool", default=False),
        command_timeout=dict(type="int", default=120),
        admin_path=dict(type="str", default="faunadb-admin"),
        config_path=dict(type="str"),
        admin_host=dict(type="str"),
        # The key is handed to faunadb-admin through FAUNADB_ROOT_KEY in the
        # child's environment, never on argv (visible in ps).
        root_key=dict(type="str", no_log=True, fallback=(env_fallback, ["FAUNADB_ROOT_KEY"])),
    )
    if extra:
        spec.update(extra)
    return spec


FAUNADB_REQUIRED_IF = [
    ("executor", "docker", ["container"]),
]


class FaunaDBError(Exception):
    """An expected failure: reported through fail_json, never as a traceback.

    ``details`` holds the context gathered so far (rc, stdout, stderr, cmd,
    ...) and is merged into the failure result.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def fail_kwargs(self):
        result = dict(self.details)
        result["msg"] = self.msg
        return result


class ExecutorError(FaunaDBError):
    """The command could not be started at all (engine unreachable, container gone...)."""

    # 'unreachable' may heal on its own (engine restarting); 'not_found' and
    # 'not_running' mean the node is dead, so wait loops stop early on them;
    # 'timeout' is a call that did not finish in time (a JVM starting on a
    # busy host can take minutes); 'config' is an engine address or TLS/SSH
    # setting that can never work (no waiting fixes it).
    def __init__(self, msg, kind, **details):
        super().__init__(msg, **details)
        self.kind = kind


def validate_replica_name(name):
    if not isinstance(name, str) or not REPLICA_NAME_RE.match(name):
        raise FaunaDBError(
            f'Invalid replica name {name!r}: expected letters, digits, "_" or "-" (not starting '
            'with "_" or "-"), optionally one "/" between two such parts'
        )
    return name


def fail_module(module, error, **extra):
    """Fail the task from a FaunaDBError, keeping the context gathered so far."""
    kwargs = error.fail_kwargs()
    for key, value in extra.items():
        kwargs.setdefault(key, value)
    module.fail_json(**kwargs)


def replace_file(path, write, mode=0o644, owner=None, prefix=".tmp-"):
    """Replace path atomically with what write(binary file) writes.

    Whoever reads path (a playbook polling a progress file, libfaketime
    re-reading its timestamp file every second) sees the old file or the new
    one, never half of it. owner is (uid, gid) to keep, or None.
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        if owner is not None:
            os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_json_object(path, what, missing_hint=""):
    """The JSON object in path, or a FaunaDBError naming what it should be (a journal, ...)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise FaunaDBError(f"No {what} at {path}{missing_hint}") from None
    except (OSError, ValueError) as exc:
        raise FaunaDBError(f"Cannot read the {what} {path}: {exc}") from None
    if not isinstance(data, dict):
        raise FaunaDBError(f"{path} is not a {what}")
    return data


def finite_number(value):
    """value as a finite float (numbers, numeric strings), else None; a bool is no number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
