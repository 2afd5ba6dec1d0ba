"""plugins/filter/faunadb_hosts.py: another host's values as its roles see them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "faunadb_hosts.py"
_spec = importlib.util.spec_from_file_location("faunadb_hosts_filters", _PATH)
ff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ff)


def test_a_value_the_host_sets_wins_over_the_default_and_a_missing_one_is_the_default():
    hostvars = {
        "n1": {"faunadb_node_image": "mine:1"},
        "n2": {"faunadb_deploy_mode": "service"},
        "n3": {},
    }
    rows = ff.faunadb_host_vars(
        ["n3", "n1", "n2"],
        hostvars,
        {"faunadb_deploy_mode": "container", "faunadb_node_image": "default:2"},
    )
    assert rows == [
        {
            "faunadb_deploy_mode": "container",
            "faunadb_node_image": "default:2",
            "inventory_hostname": "n3",
        },
        {
            "faunadb_deploy_mode": "container",
            "faunadb_node_image": "mine:1",
            "inventory_hostname": "n1",
        },
        {
            "faunadb_deploy_mode": "service",
            "faunadb_node_image": "default:2",
            "inventory_hostname": "n2",
        },
    ]


def test_a_value_set_to_null_is_kept():
    # An inventory may set a variable to null on purpose; it is not a gap.
    rows = ff.faunadb_host_vars(
        ["n1"], {"n1": {"faunadb_node_image": None}}, {"faunadb_node_image": "d"}
    )
    assert rows[0]["faunadb_node_image"] is None


def test_the_filter_is_registered():
    assert ff.FilterModule().filters()["faunadb_host_vars"] is ff.faunadb_host_vars
