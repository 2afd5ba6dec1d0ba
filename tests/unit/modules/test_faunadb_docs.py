"""DOCUMENTATION / EXAMPLES / RETURN of every module: they render and match the code."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.faunadb_common import faunadb_argument_spec
from ansible.module_utils.faunadb_workload_client import client_argument_spec
from faunadb_module_testkit import REPO

MODULES = sorted(p.stem for p in (REPO / "library").glob("faunadb_*.py"))
# Modules that talk to FaunaDB's client API (the journal reads writes back), not through
# faunadb-admin: no admin connection options, no `commands` returned.
API_MODULES = ["faunadb_chaos_journal", "faunadb_workload"]
# Modules that only handle files where they run (chaos runs): no FaunaDB at all.
FILE_MODULES = ["faunadb_chaos_lock", "faunadb_chaos_timeline"]
ADMIN_MODULES = [m for m in MODULES if m not in API_MODULES + FILE_MODULES]
ANSIBLE_DOC = Path(sys.executable).parent / "ansible-doc"
SPEC_KEYS = ("type", "default", "choices", "required", "elements")


FRAGMENT = REPO / "plugins" / "doc_fragments" / "faunadb.py"


def fragment(part="DOCUMENTATION"):
    namespace = {}
    exec(compile(FRAGMENT.read_text(), str(FRAGMENT), "exec"), namespace)  # noqa: S102
    return yaml.safe_load(getattr(namespace["ModuleDocFragment"], part))


def fragment_options(part="DOCUMENTATION"):
    return fragment(part)["options"]


# The modules that take a node's files (module_utils/faunadb_files.py files_option()),
# documented once in the fragment's FILES part.
FILES_MODULES = ["faunadb_node", "faunadb_node_files"]
# The modules that only read: their diff_mode and idempotent come from ATTRIBUTES_INFO.
INFO_MODULES = ["faunadb_info", "faunadb_status"]


def docs(name):
    """A module's doc blocks, with the shared fragment's options merged in as ansible-doc does."""
    module = importlib.import_module(name)
    documentation = yaml.safe_load(module.DOCUMENTATION)
    fragments = documentation.get("extends_documentation_fragment", [])
    if "faunadb" in fragments:
        documentation["options"] = {**fragment_options(), **documentation["options"]}
    if "faunadb.files" in fragments:
        documentation["options"] = {**fragment_options("FILES"), **documentation["options"]}
    if "faunadb.client" in fragments:
        documentation["options"] = {**fragment_options("CLIENT"), **documentation["options"]}
    # Each attribute's keys merged, the module's winning, as ansible-doc merges them.
    attributes = documentation.get("attributes", {})
    for part in ("ATTRIBUTES", "ATTRIBUTES_INFO"):
        if f"faunadb.{part.lower()}" in fragments:
            for attribute, entry in fragment(part)["attributes"].items():
                attributes[attribute] = {**entry, **attributes.get(attribute, {})}
    documentation["attributes"] = attributes
    return (
        module,
        documentation,
        yaml.safe_load(module.EXAMPLES),
        yaml.safe_load(module.RETURN),
    )


def test_all_expected_modules_exist():
    assert MODULES == [
        "faunadb_chaos_journal",
        "faunadb_chaos_lock",
        "faunadb_chaos_timeline",
        "faunadb_info",
        "faunadb_member",
        "faunadb_node",
        "faunadb_node_files",
        "faunadb_replication",
        "faunadb_status",
        "faunadb_workload",
    ]


def ansible_doc(*args):
    """ansible-doc on the repository's library/, as a user runs it; its exit code checked."""
    proc = subprocess.run(
        [str(ANSIBLE_DOC), "-M", "library", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(name):
    proc = ansible_doc(name)
    assert "ERROR" not in proc.stderr
    assert "ATTRIBUTES" in proc.stdout and "EXAMPLES" in proc.stdout
    assert "RETURN VALUES" in proc.stdout


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_json_options_match_argument_spec(name):
    documented = json.loads(ansible_doc("--json", name).stdout)[name]["doc"]
    module = importlib.import_module(name)
    assert set(documented["options"]) == set(module.ARGUMENT_SPEC)
    # The attributes merged from the fragments as docs() merges them, which the other tests read.
    assert documented["attributes"] == docs(name)[1]["attributes"]


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_equal_argument_spec(name):
    module, doc, _, _ = docs(name)
    options = doc["options"]
    spec = module.ARGUMENT_SPEC
    assert set(options) == set(spec)
    for option, entry in spec.items():
        documented = options[option]
        assert documented.get("description"), option
        for key in SPEC_KEYS:
            want = entry.get(key, False if key == "required" else None)
            got = documented.get(key, False if key == "required" else None)
            assert got == want, f"{name}.{option}.{key}: documented {got!r}, spec {want!r}"


@pytest.mark.parametrize("name", API_MODULES + FILE_MODULES)
def test_api_modules_take_no_admin_options(name):
    module = importlib.import_module(name)
    client = ["faunadb.client"] if name in API_MODULES else []
    assert yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"] == [
        *client,
        "faunadb.attributes",
    ]
    assert not set(module.ARGUMENT_SPEC) & set(faunadb_argument_spec())


@pytest.mark.parametrize("name", API_MODULES)
def test_client_options_come_from_the_fragment_only(name):
    # Documented once (the fragment's CLIENT part), defined once (client_argument_spec).
    assert set(fragment_options("CLIENT")) == set(client_argument_spec())
    module = importlib.import_module(name)
    assert set(client_argument_spec()) <= set(module.ARGUMENT_SPEC)
    own = set(yaml.safe_load(module.DOCUMENTATION)["options"])
    assert not own & set(client_argument_spec()), "a client option is documented again"


@pytest.mark.parametrize("name", ADMIN_MODULES)
def test_common_options_come_from_the_fragment_only(name):
    # Documented once (plugins/doc_fragments/faunadb.py), defined once (faunadb_argument_spec).
    assert set(fragment_options()) == set(faunadb_argument_spec())
    module = importlib.import_module(name)
    files = ["faunadb.files"] if name in FILES_MODULES else []
    info = ["faunadb.attributes_info"] if name in INFO_MODULES else []
    assert yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"] == [
        "faunadb",
        *files,
        "faunadb.attributes",
        *info,
    ]
    own = set(yaml.safe_load(module.DOCUMENTATION)["options"])
    assert not own & set(faunadb_argument_spec()), "a common option is documented again"
    assert not own & set(fragment_options("FILES")), "files is documented again"


def test_root_key_is_no_log_and_nothing_else_needs_it():
    spec = faunadb_argument_spec()
    assert spec["root_key"]["no_log"] is True
    secretish = [o for o in spec if o != "root_key" and ("key" in o or "pass" in o)]
    for name in MODULES:
        module = importlib.import_module(name)
        for option, entry in module.ARGUMENT_SPEC.items():
            if option in secretish:
                assert entry.get("no_log") is False, option


@pytest.mark.parametrize("name", MODULES)
def test_attributes_declared(name):
    attributes = docs(name)[1]["attributes"]
    assert set(attributes) >= {"check_mode", "diff_mode", "idempotent"}
    for attr, entry in attributes.items():
        assert entry["support"] in ("full", "partial", "none", "N/A"), attr
        if entry["support"] != "full":
            assert entry.get("details"), f"{name}.{attr} needs details"


@pytest.mark.parametrize("name", MODULES)
def test_return_values_complete(name):
    returns = docs(name)[3]
    assert "commands" in returns or name in API_MODULES + FILE_MODULES
    for key, entry in returns.items():
        for field in ("description", "returned", "type"):
            assert entry.get(field), f"{name} RETURN {key} lacks {field}"


@pytest.mark.parametrize("name", MODULES)
def test_examples_use_only_real_options(name):
    module, _, examples, _ = docs(name)
    tasks = [task for task in examples if name in task]
    assert tasks
    for task in tasks:
        assert set(task[name]) <= set(module.ARGUMENT_SPEC), task["name"]
