"""Helpers to run the faunadb_* modules through ansible-playbook against the FaunaDB double.

Two executors, one playbook: ``local`` drives loopback processes of the
double (faunadb-admin run by the module on this host, ``-H`` per node);
``docker`` drives three containers of the double's image through the Docker
API (faunadb-admin exec'ed inside, no Python needed there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml
from faunadb_double.testing import ADMIN_STARTUP_SECONDS

REPO = Path(__file__).resolve().parents[3]
DOUBLE_ROOT = REPO / "tests" / "faunadb_double"
VENV_BIN = Path(sys.executable).parent
ROOT_KEY = "fdbmod-root-key"
REPLICAS = ("replica1", "replica2", "replica3")
ALL_DATA_LOG = dict.fromkeys(REPLICAS, "data+log")



PLAYBOOK = textwrap.dedent(
    """\
    - name: Form a FaunaDB cluster with the faunadb_* modules
      hosts: faunadb
      gather_facts: false
      vars:
        _connection: &connection
          executor: "{{ fdb_executor }}"
          container: "{{ fdb_container | default(omit) }}"
          admin_path: "{{ fdb_admin_path | default(omit) }}"
          admin_host: "{{ fdb_admin_host | default(omit) }}"
          config_path: "{{ fdb_config_path }}"
          root_key: "{{ fdb_root_key }}"
      tasks:
        - name: Wait for the admin API
          faunadb_status:
            <<: *connection
            condition: admin
            poll: 30
            interval: 1

        - name: Initialise the cluster on the seed
          faunadb_member:
            <<: *connection
            replica: "{{ fdb_replica }}"
          when: inventory_hostname == groups['faunadb'][0]

        - name: Join the cluster through the seed
          faunadb_member:
            <<: *connection
            replica: "{{ fdb_replica }}"
            seed: "{{ hostvars[groups['faunadb'][0]].fdb_address }}"
          when: inventory_hostname != groups['faunadb'][0]

        - name: Make every replica data+log
          faunadb_replication:
            <<: *connection
            replicas: "{{ fdb_replica_types }}"
          run_once: true

        - name: Wait until the cluster is healthy
          faunadb_status:
            <<: *connection
            condition: healthy
            min_nodes: "{{ groups['faunadb'] | length }}"
            replica_types: "{{ fdb_replica_types }}"
            poll: 60
            interval: 1
          run_once: true
          when: not ansible_check_mode

        - name: Ping the write scope
          faunadb_status:
            condition: ping
            ping_host: "{{ fdb_ping_host }}"
            ping_scope: write
            poll: 30
            interval: 1
          when: fdb_ping_host is defined and not ansible_check_mode

        - name: Read the node status
          faunadb_info:
            <<: *connection
            gather: [status, movement, identity]
          register: fdb_info
    """
)


def write_inventory(path: Path, hosts: dict, common: dict) -> Path:
    inventory = {
        "all": {
            "children": {
                "faunadb": {
                    "hosts": hosts,
                    "vars": {
                        "ansible_connection": "local",
                        # The docker executor needs the SDK where the module
                        # runs: the controller's venv.
                        "ansible_python_interpreter": sys.executable,
                        "fdb_root_key": ROOT_KEY,
                        "fdb_replica_types": ALL_DATA_LOG,
                        **common,
                    },
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


class PlaybookRun:
    def __init__(self, proc):
        self.proc = proc
        self.rc = proc.returncode
        try:
            self.data = json.loads(proc.stdout)
        except ValueError:
            self.data = None

    def __repr__(self):
        return f"rc={self.rc}\nstdout={self.proc.stdout[-6000:]}\nstderr={self.proc.stderr[-3000:]}"

    @property
    def stats(self):
        return self.data["stats"]

    def results(self, task_name_prefix):
        """host -> result of the first task whose name starts with the prefix."""
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"].startswith(task_name_prefix):
                    return task["hosts"]
        raise KeyError(task_name_prefix)

    def changed_tasks(self):
        found = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    if result.get("changed"):
                        found.append((task["task"]["name"], host))
        return found


def run_playbook(workdir: Path, inventory: Path, check: bool = False) -> PlaybookRun:
    playbook = workdir / "form.yml"
    playbook.write_text(PLAYBOOK)
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if check:
        argv.append("--check")
    env = {
        **os.environ,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
        "ANSIBLE_FORCE_COLOR": "0",
        # The local executor runs the double's launchers on this host: with
        # the venv's Python (PyYAML, bcrypt) and a short JVM-start imitation.
        "FAUNADB_DOUBLE_PYTHON": sys.executable,
        "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": ADMIN_STARTUP_SECONDS,
    }
    env.pop("FAUNADB_ROOT_KEY", None)
    proc = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return PlaybookRun(proc)


def remove_containers(client, names, network):
    """Remove a test's containers (with their anonymous volumes) and then its network,
    which the engine may still hold for a moment after the last container went."""
    import docker.errors  # noqa: PLC0415 - only when docker is importable

    for name in names:
        try:
            client.containers.get(name).remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
    for found in client.networks.list(names=[network]):
        for _ in range(10):
            try:
                found.remove()
                break
            except docker.errors.APIError:
                time.sleep(0.5)
