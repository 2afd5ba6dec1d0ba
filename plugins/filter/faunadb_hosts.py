# Apache-2.0, like the rest of the project.
"""Other hosts' variables, as their roles see them.

No Ansible import: the unit tests load this file directly
(tests/unit/roles/test_faunadb_hosts_filters.py), and importing Ansible at
collection time changes how the module tests see warnings.
"""

from __future__ import annotations


def faunadb_host_vars(hosts, hostvars, defaults):
    """Each host's values of the variables named in defaults, as its roles see them.

    hostvars[] of another host holds its inventory values and facts, not role
    defaults: a variable it does not set has the default (the roles' value,
    given by the caller), as on the host itself. The defaults are the caller's
    values, so only those that do not depend on the host belong here. One dict
    per host, in order, with its name as inventory_hostname."""
    found = []
    for host in hosts:
        values = hostvars[host]
        row = {
            name: values[name] if name in values else default for name, default in defaults.items()
        }
        row["inventory_hostname"] = host
        found.append(row)
    return found


class FilterModule:
    def filters(self):
        return {"faunadb_host_vars": faunadb_host_vars}
