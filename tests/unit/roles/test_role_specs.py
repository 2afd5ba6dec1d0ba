"""Each role's meta/argument_specs.yml must describe exactly its defaults.

A variable added to defaults/main.yml without a spec (or the reverse), or a
default that differs between the two files, fails here instead of drifting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from faunadb_double.config_keys import CORE_CONFIG_KEYS

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


def test_every_role_has_specs_defaults_and_readme():
    for role in sorted(p for p in ROLES.iterdir() if p.is_dir()):
        assert (role / "meta" / "argument_specs.yml").exists(), role.name
        assert (role / "README.md").exists(), role.name
        assert (role / "defaults" / "main.yml").exists(), role.name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_specs_match_defaults(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    assert sorted(set(defaults) - set(options)) == [], "defaults without a spec"
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        if "default" in spec:
            assert name in defaults, f"{name} has a spec default but no entry in defaults/main.yml"
            assert spec["default"] == defaults[name], (
                f"{name}: spec default differs from defaults/main.yml"
            )
        if "choices" in spec and name in defaults and "{{" not in str(defaults[name]):
            # A list option's choices are those of its elements.
            values = defaults[name] if spec.get("type") == "list" else [defaults[name]]
            assert all(v in spec["choices"] for v in values), name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_variables_carry_the_role_prefix(role):
    # faunadb_* is the shared namespace; every other role prefixes its own.
    prefix = "faunadb_" if role == "faunadb" else f"{role}_"
    for name in load(ROLES / role / "defaults" / "main.yml"):
        assert name.startswith(prefix), f"{role}: {name}"


def test_the_node_role_knows_the_keys_a_release_accepts():
    # faunadb_node_config is checked against this list before anything changes; the double
    # holds the release's CoreConfig key list (checked against ../shared/docs where present).
    known = load(ROLES / "faunadb_node" / "vars" / "main.yml")["faunadb_node_known_keys"]
    assert len(known) == len(set(known)), "a key is listed twice"
    assert set(known) == CORE_CONFIG_KEYS
