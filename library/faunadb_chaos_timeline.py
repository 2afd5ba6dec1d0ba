#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_chaos_timeline
short_description: Draw the timeline of chaos runs (workload, latency, faults, heal) as a PNG
description:
  - Reads the C(journal.json) of one or more chaos runs (written by the C(chaos) role) and draws
    one panel per journal, in the order of O(journals), into the PNG O(dest).
  - Each panel shows, per second of the workload, the requests stacked as C(ok) (green),
    C(failed) (red) and C(indeterminate) (orange); the p99 latency of the C(ok) requests on a
    second axis (milliseconds, on a log scale when its largest value is more than 50 times its
    smallest); failed pings (C(pings_failed)) as red markers along the bottom; every phase
    (C(phases), or the C(fault) of journals without phases) shaded in its own light colour and
    labelled with its name, kind and targets; the heal window hatched in grey, labelled
    C(heal); and, for each register key whose history the workload found not
    linearizable, its smallest failing window (C(workload.linearizability.keys.KEY.window))
    cross-hatched in red, labelled with the key. The panel's title is the scenario and the
    verdict, the x axis the seconds since the workload started.
  - A failed run may leave any part of its journal missing or null, or no journal at all. The
    module draws what there is (a missing journal gives an empty panel saying so, and a warning)
    and never fails because of a journal's content.
  - The heal window is C(heal.start_epoch) to C(heal.end_epoch) minus
    C(workload.started_epoch). Without C(heal.start_epoch) it starts at C(fault.end_epoch), and
    without C(heal.end_epoch) it lasts C(heal.seconds); a heal without an end is drawn to the
    end of the panel and labelled as not finished.
  - O(dest) is replaced atomically (a temporary file in the same directory, then a rename), with
    mode 0640. Its directory must exist.
version_added: "0.4.0"
author: FaunaDB lab project
requirements:
  - The C(matplotlib) Python package (3.9 or later, listed in the project's
    C(requirements.txt)) where the module runs, usually the controller. It draws with the
    C(Agg) backend and needs no display.
options:
  journals:
    description:
      - Paths of the chaos journals (C(journal.json)), one panel each, top to bottom in this
        order. On the host the module runs on. At least one.
    type: list
    elements: path
    required: true
  dest:
    description: Path of the PNG written. Its directory must exist.
    type: path
    required: true
  title:
    description: Title over all the panels. None when unset.
    type: str
extends_documentation_fragment:
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - Reads the journals, writes nothing, and predicts RV(changed=true) when O(dest) is missing
        or any journal was modified after it (file times only - a new O(title) alone is not
        noticed).
  diff_mode:
    support: none
    details: The output is an image; there is nothing to compare as text.
  idempotent:
    support: none
    details:
      - PNGs drawn by matplotlib are not byte-for-byte stable between runs, so the module
        redraws O(dest) every time it runs outside check mode and reports RV(changed=true).
seealso:
  - module: faunadb_workload
  - module: faunadb_chaos_lock
notes:
  - Journals only have to be JSON objects; every field is optional. Per-second entries need
    C(t); counts that are missing count as 0, a missing C(p99_ms) leaves a gap in the line.
"""

EXAMPLES = r"""
- name: Draw the run's timeline next to its journal
  faunadb_chaos_timeline:
    journals:
      - /tmp/chaos/20261127T143000Z-kill_node/journal.json
    dest: /tmp/chaos/20261127T143000Z-kill_node/timeline.png

- name: Compare three runs in one picture
  faunadb_chaos_timeline:
    journals:
      - chaos-runs/kill_node/journal.json
      - chaos-runs/kill_replica/journal.json
      - chaos-runs/cut_off/journal.json
    dest: chaos-runs/timelines.png
    title: Chaos runs of 2026-11-27
  register: timeline
"""

RETURN = r"""
dest:
  description: The PNG written (or, in check mode, that would be).
  returned: always
  type: str
  sample: /tmp/chaos/20261127T143000Z-kill_node/timeline.png
panels:
  description: One entry per journal, in order, saying what its panel shows.
  returned: always
  type: list
  elements: dict
  contains:
    journal:
      description: Path of the journal.
      type: str
    scenario:
      description: The journal's C(scenario), or the name of its directory when it has none.
      type: str
    verdict:
      description: The verdict in capitals, or V(NO VERDICT).
      type: str
    seconds:
      description: Per-second workload entries drawn.
      type: int
    phases:
      description: Names of the phases shaded (V(fault) for a journal with only a C(fault)).
      type: list
      elements: str
    heal:
      description: Whether a heal window was drawn.
      type: bool
    not_linearizable:
      description: Register keys found not linearizable, whose failing windows were marked.
      type: list
      elements: str
    problem:
      description: Why the journal could not be read (missing, not JSON), else null.
      type: str
  sample: [{"journal": "/tmp/chaos/run/journal.json", "scenario": "kill_node",
    "verdict": "PASS", "seconds": 60, "phases": ["kill", "down"], "heal": true,
    "not_linearizable": [], "problem": null}]
"""

import os

from ansible.module_utils.faunadb_chaos_timeline import (
    HAS_MATPLOTLIB,
    MATPLOTLIB_IMPORT_ERROR,
    MISSING_MATPLOTLIB,
    load,
    needs_render,
    render,
    summary,
)
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_module import run_module

ARGUMENT_SPEC = dict(
    journals=dict(type="list", elements="path", required=True),
    dest=dict(type="path", required=True),
    title=dict(type="str"),
)


def draw(module):
    params = module.params
    journals, dest = params["journals"], params["dest"]
    if not journals:
        raise FaunaDBError("journals is empty: give at least one journal.json to draw")
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise FaunaDBError(f"dest {dest}: directory {directory} is missing or not writable")
    if os.path.isdir(dest):
        raise FaunaDBError(f"dest {dest} is a directory; give the path of the PNG")

    if not HAS_MATPLOTLIB:
        raise FaunaDBError(MISSING_MATPLOTLIB, exception=MATPLOTLIB_IMPORT_ERROR)
    if module.check_mode:
        panels = [summary(path, *load(path)) for path in journals]
        return dict(changed=needs_render(journals, dest), dest=dest, panels=panels)

    try:
        panels = render(journals, dest, params["title"])
    except Exception as exc:  # drawing or writing: report it, never a traceback
        raise FaunaDBError(
            f"Cannot draw the timeline into {dest}: {type(exc).__name__}: {exc}"
        ) from None
    for panel in panels:
        if panel["problem"]:
            module.warn(f"{panel['problem']}; its panel is empty")
    return dict(changed=True, dest=dest, panels=panels)


def main():
    run_module("faunadb_chaos_timeline", draw, argument_spec=ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
