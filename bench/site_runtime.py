#!/usr/bin/env python3
"""Wall-clock figures of site.yml: first run, a run with nothing to change, a rolling change.

    .venv/bin/python bench/site_runtime.py [-i INVENTORY] [--confirm CLUSTER]

Defaults to the isolated 3x1 test inventory (tests/integration/site), so it
never touches a cluster `make run` started. Images must exist (`make setup`).
The cluster is torn down before and after. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"


def run(inventory: str, *args: str) -> tuple[float, int]:
    """Seconds taken and the total `changed` of the recap; exits on a failed run."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(PLAYBOOK), "-i", inventory, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=1800, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    return elapsed, sum(int(n) for n in re.findall(r"\schanged=(\d+)", proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", default="tests/integration/site/inventory.yml")
    parser.add_argument("--confirm", default="sitetest", help="the inventory's cluster name")
    opts = parser.parse_args()
    teardown = ("playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={opts.confirm}")

    run(opts.inventory, *teardown)
    try:
        first, changed = run(opts.inventory, "site.yml")
        print(f"site.yml, first run (no containers): {first:.1f} s, changed={changed}")
        warm, changed = run(opts.inventory, "site.yml")
        print(f"site.yml, nothing to change:         {warm:.1f} s, changed={changed}")
        check, changed = run(opts.inventory, "site.yml", "--check")
        print(f"site.yml --check, converged:         {check:.1f} s, changed={changed}")
        extra = ("-e", "faunadb_node_shutdown_grace_period_seconds=29")
        rolling, changed = run(opts.inventory, "site.yml", *extra)
        print(f"site.yml, rolling config change:     {rolling:.1f} s, changed={changed}")
    finally:
        run(opts.inventory, *teardown)


if __name__ == "__main__":
    main()
