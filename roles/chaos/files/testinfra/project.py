"""The project's own module_utils, imported as Ansible imports them (ansible.module_utils.NAME),
so that the checks ask and connect exactly as the modules do (one ping, one Docker client)."""

from __future__ import annotations

import importlib
from pathlib import Path

MODULE_UTILS = Path(__file__).resolve().parents[4] / "module_utils"


def module_util(name):
    import ansible.module_utils  # noqa: PLC0415 - ansible is there only once the venv is

    if str(MODULE_UTILS) not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(MODULE_UTILS))
    return importlib.import_module(f"ansible.module_utils.{name}")
