# How every faunadb_* module reaches faunadb-admin, documented once. The
# options themselves are defined once too, in
# module_utils/faunadb_common.py (faunadb_argument_spec); a unit test keeps
# the two in step.
"""Documentation fragment shared by the faunadb_* modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - C(faunadb-admin) on the node.
  - The Docker SDK for Python (C(docker)) where the module runs, when O(executor=docker).
options:
  executor:
    description:
      - Where C(faunadb-admin) runs.
      - V(local) runs it on the host executing the module (service mode, a node installed from the
        release tarball).
      - V(docker) runs it inside O(container) through the Docker API (container mode). No Python is
        needed
        in the container; the Docker SDK for Python is needed where the module runs (usually the
        controller,
        with C(ansible_connection=local)).
    type: str
    choices: [local, docker]
    default: local
  container:
    description:
      - Name or ID of the FaunaDB container. Required when O(executor=docker).
    type: str
  docker_host:
    description:
      - Docker engine that runs O(container), for example V(unix:///var/run/docker.sock),
        V(tcp://host:2376)
        or V(ssh://user@host). Only used when O(executor=docker).
      - Defaults to the E(DOCKER_HOST) environment variable where the module runs, then
        V(unix:///var/run/docker.sock).
    type: str
  docker_timeout:
    description:
      - Seconds one Docker API call may take. Keep it above 90, the time a C(join) through an
        unreachable seed
        takes to give up.
    type: int
    default: 180
  docker_tls:
    description:
      - Talk to a V(tcp://) engine over TLS (like C(docker --tls)). Implied by
        O(docker_validate_certs). Defaults to E(DOCKER_TLS).
    type: bool
    default: false
  docker_validate_certs:
    description:
      - Verify the engine's certificate against O(docker_ca_path) (like C(docker --tlsverify)).
        Defaults to E(DOCKER_TLS_VERIFY).
    type: bool
    default: false
  docker_ca_path:
    description:
      - CA certificate that signed the engine's certificate; C(ca.pem) in E(DOCKER_CERT_PATH)
        when unset.
    type: path
  docker_client_cert:
    description:
      - Client certificate presented to the engine; C(cert.pem) in E(DOCKER_CERT_PATH) when
        unset.
    type: path
  docker_client_key:
    description: Key of O(docker_client_cert); C(key.pem) in E(DOCKER_CERT_PATH) when unset.
    type: path
  docker_use_ssh_client:
    description:
      - For V(ssh://) engines, use the C(ssh) command (and its config and agent) instead of
        paramiko.
    type: bool
    default: false
  command_timeout:
    description:
      - Seconds one C(faunadb-admin) call may take before it counts as failed. Each call starts a
        JVM on a real node (seconds when the host is quiet, minutes beside busy server JVMs).
    type: int
    default: 120
  admin_path:
    description:
      - Path of C(faunadb-admin) on the node (inside the container when O(executor=docker)).
        Use the release's own C(bin/faunadb-admin), because the launcher finds its jar relative
        to its own directory (a symlink elsewhere does not work).
    type: str
    default: faunadb-admin
  config_path:
    description:
      - FaunaDB configuration file, passed in the E(FAUNADB_CONFIG) environment variable (the real
        launcher ignores C(-c) when it looks for the config). Lets C(faunadb-admin) find the admin
        address.
    type: str
  admin_host:
    description:
      - Admin endpoint passed as C(-H) (V(HOST), V(HOST:PORT) or V(:PORT)). Needed when several
        nodes share
        one host, or when the admin address is not the default V(127.0.0.1:8444).
    type: str
  root_key:
    description:
      - FaunaDB root key. It reaches C(faunadb-admin) through the E(FAUNADB_ROOT_KEY) environment
        variable,
        never the command line, so it does not show in C(ps).
      - Defaults to E(FAUNADB_ROOT_KEY) in the environment of the module. When neither is set,
        C(faunadb-admin) falls back to its own environment, then to C(auth_root_key) in the config
        file.
    type: str
"""

    # The files of a node: faunadb_node_files writes them, faunadb_node's probe
    # compares them (module_utils/faunadb_files.py files_option()).
    FILES = r"""
options:
  files:
    description:
      - Regular files the node should hold, in directories that exist. M(faunadb_node_files) writes
        those that differ; M(faunadb_node) with O(state=probe) only tells which it would write
        (RV(files_differ)), so that one call tells whether a running node is as wanted.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: str
        required: true
      content:
        description:
          - What the file holds. Never shown in the task's result, diffs included (a node's
            configuration holds the root key's hash).
        type: str
        required: true
      mode:
        description: Permission bits, in octal.
        type: str
        default: "0644"
      owner_id:
        description: Numeric user ID of the owner.
        type: int
        default: 0
      group_id:
        description: Numeric group ID.
        type: int
        default: 0
      force:
        description: Replace a file that differs; V(false) only creates a missing one (a file that
          exists counts as matching, whatever it holds).
        type: bool
        default: true
"""

    # How a module reaches the client API besides its url: faunadb_workload sends its load,
    # faunadb_chaos_journal reads an interrupted run's writes back
    # (module_utils/faunadb_workload_client.py client_argument_spec()).
    CLIENT = r"""
options:
  secret:
    description:
      - FaunaDB secret (the root key). Prefer O(secret_file), which keeps the key out of
        variables altogether. At most one of the two.
    type: str
  secret_file:
    description:
      - File holding the secret, on the host the module runs on (the controller), e.g.
        C(inventory/.secrets/fauna.root_key). It should be mode 0600; the module warns otherwise.
    type: path
  validate_certs:
    description: Verify the server's TLS certificate when O(url) is V(https).
    type: bool
    default: true
  verify_timeout:
    description:
      - Seconds the read-back of the acknowledged writes may take; failed reads are retried
        until then (the cluster may still be recovering). Writes not checked by then leave the
        verification incomplete.
    type: float
    default: 60
"""

    # Wording of the attributes, once; each module states its own support (module keys win
    # over a fragment's). Every faunadb_* module supports check mode in full; a module only
    # says how, in check_mode.details.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: >-
      Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: >-
      Will return details on what has changed (or possibly needs changing in check_mode),
      when in diff mode.
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second
      invocation indicates no change.
"""

    # Modules that only read (with ATTRIBUTES, which has the wording).
    ATTRIBUTES_INFO = r"""
attributes:
  diff_mode:
    support: N/A
    details: The module never changes anything.
  idempotent:
    support: full
"""
