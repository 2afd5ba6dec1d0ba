"""Shared by every test: the FaunaDB double's package is importable as faunadb_double."""

import sys
from pathlib import Path

DOUBLE_ROOT = Path(__file__).resolve().parent / "faunadb_double"
if str(DOUBLE_ROOT) not in sys.path:
    sys.path.insert(0, str(DOUBLE_ROOT))
