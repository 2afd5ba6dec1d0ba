#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_chaos_lock
short_description: Take or release the lock that lets one chaos run at a time touch a cluster
description:
  - A lock file O(path) (one per cluster) holding JSON - C(owner) (the run id), C(host),
    C(pid), C(acquired) and C(expires) (epoch seconds). A lock whose C(expires) has passed, or
    a file that cannot be read or parsed, counts as expired - free for anyone.
  - O(state=present) takes the lock for O(owner) for O(ttl) seconds. A missing lock is created
    atomically (C(O_CREAT|O_EXCL), mode 0600), so of two runs starting together only one gets
    it. The same owner refreshes C(expires). An expired lock, or any lock with O(force=true),
    is taken over (RV(took_over_from)). A lock another owner holds and that has not expired
    fails the task, naming the holder and how to break the lock.
  - O(state=absent) releases the lock when O(owner) holds it, when it has expired, or with
    O(force=true). A lock another owner holds is left alone - the task succeeds without a
    change and returns RV(held_by) - so releasing in an C(always) section never breaks another
    run's lock.
  - The parent directory of O(path) is created (mode 0750) when missing.
version_added: "0.4.0"
author: FaunaDB lab project
options:
  path:
    description:
      - The lock file, on the host the module runs on (usually the controller), one per cluster.
    type: path
    required: true
  state:
    description: V(present) takes (or refreshes) the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who takes or releases the lock, usually the chaos run's id. Required with
        O(state=present). With O(state=absent) and no O(owner), only an expired lock (or any,
        with O(force)) is removed.
    type: str
  ttl:
    description:
      - With O(state=present), seconds the lock is held from now; after them any run may take it
        over. Longer than the run, including its heal. At least 1.
    type: int
    default: 3600
  force:
    description:
      - With O(state=present), take the lock over even when another owner holds it. With
        O(state=absent), remove it whoever holds it. Only after making sure that no other run
        is active.
    type: bool
    default: false
extends_documentation_fragment:
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - Reads the lock and predicts RV(changed), the result and the diff; writes nothing,
        creates no directory. A lock held by another owner fails in check mode too.
  diff_mode:
    support: full
    details: Before and after of the lock's C(owner) and C(expires) (UTC).
  idempotent:
    support: partial
    details:
      - O(state=absent) is idempotent. O(state=present) by the same owner refreshes C(expires)
        each time, so it always reports RV(changed=true).
seealso:
  - module: faunadb_chaos_timeline
notes:
  - C(pid) records the process of the module itself, which has ended by the time anyone reads
    the lock; it is for the record only and never used to decide whether the lock is held.
  - Two runs finding the same expired lock at the same instant may both take it over (the last
    write wins); creating a missing lock is atomic.
"""

EXAMPLES = r"""
- name: Take the cluster's chaos lock for this run
  faunadb_chaos_lock:
    path: "{{ playbook_dir }}/../chaos-runs/.lock"
    owner: "{{ chaos_run_id }}"
    ttl: 1800

- name: Release it (always, even when the run failed)
  faunadb_chaos_lock:
    path: "{{ playbook_dir }}/../chaos-runs/.lock"
    owner: "{{ chaos_run_id }}"
    state: absent

- name: Break the lock of a run that died (heal.yml, -e chaos_break_lock=true)
  faunadb_chaos_lock:
    path: "{{ playbook_dir }}/../chaos-runs/.lock"
    state: absent
    force: true
  register: lock
"""

RETURN = r"""
owner:
  description: O(owner) as given.
  returned: always
  type: str
  sample: "20261127T143000Z-kill_node"
held_by:
  description: Owner of the lock after the task (in check mode, as it would be); null when free.
  returned: always
  type: str
  sample: "20261127T143000Z-kill_node"
expires:
  description: When the lock held after the task expires, epoch seconds; null when free.
  returned: always
  type: float
  sample: 1795617000.0
took_over_from:
  description:
    - Owner of the lock that O(state=present) replaced (expired, or O(force)); null when the
      lock was free, unreadable, or already this owner's.
  returned: always
  type: str
  sample: "20261127T120000Z-kill_replica"
previous:
  description: The lock as found (C(owner), C(host), C(pid), C(acquired), C(expires)); null
    when there was none or it could not be read.
  returned: always
  type: dict
  sample: {"owner": "20261127T120000Z-kill_replica", "host": "ctl", "pid": 4242,
    "acquired": 1795600000.0, "expires": 1795603600.0}
"""

import json
import os
import socket
import time
from datetime import UTC, datetime

from ansible.module_utils.faunadb_common import FaunaDBError, replace_file
from ansible.module_utils.faunadb_module import run_module

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    owner=dict(type="str"),
    ttl=dict(type="int", default=3600),
    force=dict(type="bool", default=False),
)


def utc(epoch):
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_lock(path):
    """(lock dict or None, missing); a lock that cannot be read or parsed is (None, False)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lock = json.load(fh)
    except (FileNotFoundError, NotADirectoryError):
        return None, True
    except (OSError, ValueError):
        return None, False
    valid = (isinstance(lock, dict) and isinstance(lock.get("owner"), str)
             and isinstance(lock.get("expires"), (int, float))
             and not isinstance(lock.get("expires"), bool))
    return (lock, False) if valid else (None, False)


def make_parent(path):
    directory = os.path.dirname(path)
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=0o750)
    except FileExistsError:  # made by another run just now
        return
    os.chmod(directory, 0o750)  # noqa: S103 - group may read the runs, whatever the umask


def write_lock(path, lock, exclusive):
    data = (json.dumps(lock, sort_keys=True) + "\n").encode()
    if not exclusive:
        replace_file(path, lambda handle: handle.write(data), mode=0o600, prefix=".tmp-lock-")
        return
    # Only one of two runs creating the lock together gets it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def hold(module):
    p = module.params
    path, owner, now = os.path.abspath(p["path"]), p["owner"], time.time()
    if p["state"] == "present" and p["ttl"] < 1:
        raise FaunaDBError(f"ttl must be at least 1 second, not {p['ttl']}")
    if os.path.isdir(path):
        raise FaunaDBError(f"chaos lock {path} is a directory; give the path of a file")
    lock, missing = read_lock(path)
    expired = lock is None or lock["expires"] <= now
    mine = lock is not None and lock["owner"] == owner
    result = dict(changed=False, owner=owner, held_by=None, expires=None, took_over_from=None,
                  previous=lock)
    before = dict(owner=lock["owner"], expires=utc(lock["expires"])) if lock else {}

    if p["state"] == "present":
        if lock and not mine and not expired and not p["force"]:
            acquired = lock.get("acquired")
            since = utc(acquired) if isinstance(acquired, (int, float)) else "an unknown time"
            raise FaunaDBError(
                f"chaos lock {path} is held by {lock['owner']} since {since}, "
                f"until {utc(lock['expires'])} (another chaos run on this cluster); wait, or "
                "after making sure no run is active, remove it with playbooks/heal.yml or "
                "-e chaos_break_lock=true", **result)
        new = dict(owner=owner, host=socket.gethostname(), pid=os.getpid(),
                   acquired=lock.get("acquired", now) if mine else now, expires=now + p["ttl"])
        result.update(changed=True, held_by=owner, expires=new["expires"],
                      took_over_from=lock["owner"] if lock and not mine else None)
        if missing and not module.check_mode:
            try:
                make_parent(path)
                write_lock(path, new, exclusive=True)
            except FileExistsError:
                raise FaunaDBError(f"chaos lock {path} was taken by another run just now "
                                   "(another chaos run on this cluster); try again",
                                   **result) from None
            except OSError as exc:
                raise FaunaDBError(f"Cannot create the chaos lock {path}: {exc}",
                                   **result) from None
        elif not module.check_mode:
            try:
                write_lock(path, new, exclusive=False)
            except OSError as exc:
                raise FaunaDBError(f"Cannot write the chaos lock {path}: {exc}",
                                   **result) from None
        if lock is None and not missing:
            module.warn(f"chaos lock {path} could not be read or parsed; it counts as expired "
                        "and is replaced")
        after = dict(owner=owner, expires=utc(new["expires"]))
    elif missing:
        after = before
    elif mine or expired or p["force"]:
        result["changed"] = True
        after = {}
        if not module.check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise FaunaDBError(f"Cannot remove the chaos lock {path}: {exc}",
                                   **result) from None
    else:  # somebody else's live lock: releasing it is not ours to do
        result.update(held_by=lock["owner"], expires=lock["expires"])
        after = before
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    return result


def main():
    run_module(
        "faunadb_chaos_lock", hold,
        argument_spec=ARGUMENT_SPEC, required_if=[("state", "present", ["owner"])],
    )


if __name__ == "__main__":
    main()
