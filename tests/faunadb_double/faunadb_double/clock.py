"""Time helpers that stay correct under libfaketime.

With FAKETIME_DONT_FAKE_MONOTONIC=1 (how the project injects skew),
libfaketime's clock_nanosleep wrapper makes Python's ``time.sleep`` fail with
EINVAL, while condition-variable waits keep working. So the double never
calls ``time.sleep``; it waits on an Event instead. Durations are measured
with ``time.monotonic`` (not faked), never with the wall clock.
"""

from __future__ import annotations

import threading


def pause(seconds: float) -> None:
    if seconds > 0:
        threading.Event().wait(seconds)
