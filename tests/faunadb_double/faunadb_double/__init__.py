"""faunadb_double: a TEST DOUBLE for FaunaDB's operational surface, not a database.

It mimics the commands, outputs, exit codes, config keys, ports and
availability rules of a FaunaDB cluster so that the project's playbooks,
modules and chaos tests can run offline. See ../README.md.
"""

VERSION = "1.0.0"
# What `faunadb-admin host-version` prints after "Fauna ": marked as the double.
HOST_VERSION = f"{VERSION}-double"
