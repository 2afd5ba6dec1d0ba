"""Timings a real FaunaDB node has but does not expose as config keys.

Each defaults to what a real build showed (surface doc, "Verified on a real
build", items 11-12) and can be shortened through the environment, so tests
need not wait as long as a real cluster does.
"""

from __future__ import annotations

import os


def _seconds(name: str, default: float, *, allow_zero: bool = False) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 or (allow_zero and value == 0) else default


# A killed node shows `down` in `status` 10-12 s after it died (item 12).
FAILURE_DETECTION = _seconds("FAUNADB_DOUBLE_FAILURE_DETECTION_SECONDS", 11.0)
# movement-status reported movement for about 30 s after update-replica (item 11).
MOVEMENT = _seconds("FAUNADB_DOUBLE_MOVEMENT_SECONDS", 30.0)
# Without its log quorum a node logged a consensus stall about 3.5 minutes
# into the outage, then shut down for 30 s (item 12).
STALL_DETECTION = _seconds("FAUNADB_DOUBLE_STALL_DETECTION_SECONDS", 180.0)
# A node's admin API (8444) listens only this long after the process started:
# 5 s on a quiet machine (item 9), 7.5 s seen with three JVMs starting at once
# (2026-12-07). Until then faunadb-admin cannot connect (and says nothing).
NODE_STARTUP = _seconds("FAUNADB_DOUBLE_NODE_STARTUP_SECONDS", 5.0, allow_zero=True)
# A real `faunadb-admin status` on a node without its log quorum printed no
# table within ~105 s (item 15). The double holds the request while the quorum
# is lost, this long at most, then drops the connection: the tool exits 1
# without a word (its Try swallows the error, as for an unanswered request).
STATUS_STALL = _seconds("FAUNADB_DOUBLE_STATUS_STALL_SECONDS", 600.0)
# A write without a log quorum failed after this long (item 12); a read hung
# until the client gave up (185 s).
WRITE_DEADLINE = 30.0
READ_DEADLINE = 185.0
