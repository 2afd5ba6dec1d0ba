"""The one entry of every faunadb_* module: build it, run its action, report.

Each library module's main() is a call to run_module(); the module itself only
says what to do and raises FaunaDBError for what it expects may go wrong.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.faunadb_common import FaunaDBError, fail_module


def run_module(name, action, connect=None, *, commands_change=False, **module_kwargs):
    """Build the AnsibleModule, run ``action``, exit with its result or fail.

    Without ``connect`` the action is ``action(module)``; with it, ``connect(module)``
    gives what the action works through (a FaunaAdmin, node operations), a
    ``commands`` list of the key-free commands run so far, and the action is
    ``action(module, context)``. Its commands go into every result (unless the
    action reports its own) and into every failure.

    A FaunaDBError fails with its message and details. Anything else is a bug,
    not an answer: it fails as "<name>: unexpected <Type>: <message>" with the
    traceback (ansible-core 2.19 ships it only with display_traceback=error), and,
    as nobody knows how far the action got, changed says whether any command ran.
    ``commands_change``: every command the context records is a change (node
    operations; faunadb-admin's commands are mostly reads), so an expected failure
    after one says changed too.
    """
    module = AnsibleModule(supports_check_mode=True, **module_kwargs)
    context = None

    def done():
        return list(context.commands) if context is not None else []

    try:
        if connect is None:
            result = action(module)
        else:
            context = connect(module)
            result = action(module, context)
        if context is not None:
            result.setdefault("commands", done())
        module.exit_json(**result)
    except FaunaDBError as exc:
        extra = dict(changed=bool(done())) if commands_change else {}
        fail_module(module, exc, commands=done(), **extra)
    except Exception as exc:  # noqa: BLE001 - reported with its traceback, never bare
        module.fail_json(
            msg=f"{name}: unexpected {type(exc).__name__}: {exc}",
            exception=traceback.format_exc(),
            commands=done(),
            changed=bool(done()),
        )
