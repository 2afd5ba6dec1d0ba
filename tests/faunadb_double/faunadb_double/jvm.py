"""Entry point of lib/faunadb.jar: the part of `java` that automation can trip over.

FaunaDB's launchers run ``java [JVM options] -jar faunadb.jar ARGS``; the
double's run ``python3 faunadb.jar [JVM options] server|admin ARGS``. The JVM
options are accepted and ignored, except what the real JVM would refuse or
cost (docs/faunadb-surface.md, "Verified on a real build"):

* an ``-Xlog`` output with a quote in it (``log_path: "/var/log/faunadb"``
  copied by text into the GC log option) or a GC log file that cannot be
  opened stops the JVM with exit 1 (item 2);
* every admin tool start is a JVM start: a 14-line jamm warning banner on
  stderr and seconds of start-up (item 8).
"""

from __future__ import annotations

import os
import sys

from .clock import pause

STARTUP_ENV = "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS"
DEFAULT_STARTUP_SECONDS = 2.0

# The double's IMITATION of the jamm agent's warnings a JRE 17 prints on every
# faunadb-admin start: made-up wording, real line count (14), real stream (stderr).
JAMM_BANNER = "\n".join([
    "WARNING: jamm: the double imitates FaunaDB's JVM start-up warnings here",
    "WARNING: jamm: org.github.jamm.MemoryMeter could not access object internals",
    "WARNING: jamm: falling back to reflective field access for measurements",
    "WARNING: jamm: illegal reflective access to java.lang.Object fields",
    "WARNING: jamm: illegal reflective access to java.lang.String.value",
    "WARNING: jamm: illegal reflective access to java.util.concurrent internals",
    "WARNING: jamm: illegal reflective access to sun.nio.ch.DirectBuffer",
    "WARNING: jamm: illegal reflective access to jdk.internal.misc.Unsafe",
    "WARNING: jamm: open the modules with --add-opens to silence these warnings",
    "WARNING: jamm: e.g. --add-opens java.base/java.lang=ALL-UNNAMED",
    "WARNING: jamm: e.g. --add-opens java.base/java.util=ALL-UNNAMED",
    "WARNING: jamm: e.g. --add-opens java.base/java.nio=ALL-UNNAMED",
    "WARNING: jamm: memory measurements may be less accurate",
    "WARNING: jamm: all illegal access operations will be denied in a future release",
])

_JVM_FAILED = [
    "Error: Could not create the Java Virtual Machine.",
    "Error: A fatal exception has occurred. Program will exit.",
]


def xlog_refusal(option: str) -> list[str]:
    """What the JVM prints when it refuses ``-Xlog:WHAT:OUTPUT:...``; [] if it accepts it."""
    parts = option[len("-Xlog:"):].split(":", 3)
    output = parts[1] if len(parts) > 1 else ""
    if '"' in output or "'" in output:
        error = f"[error][logging] Output name can not be partially quoted: {output}"
    elif output.startswith("file="):
        path = output[len("file="):]
        try:
            with open(path, "a", encoding="utf-8"):
                pass  # the JVM opens (creates) the GC log; it never creates its directory
            return []
        except OSError as exc:
            error = f"[error][logging] Error opening log file '{path}': {exc.strerror}"
    else:
        return []
    return [error, f"Invalid -Xlog option '{option}', see error log for details.", *_JVM_FAILED]


def startup_seconds(env=os.environ) -> float:
    try:
        return max(0.0, float(env.get(STARTUP_ENV, DEFAULT_STARTUP_SECONDS)))
    except ValueError:
        return DEFAULT_STARTUP_SECONDS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Like `java`: options first, then what to run, then its arguments.
    first = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), len(argv))
    options, rest = argv[:first], argv[first:]
    for option in options:
        if option.startswith("-Xlog:"):
            refusal = xlog_refusal(option)
            if refusal:
                print("\n".join(refusal), file=sys.stderr)
                return 1
    tool, args = (rest[0], rest[1:]) if rest else ("", [])
    if tool == "server":
        from .server import main as server_main  # noqa: PLC0415 - one tool per process

        return server_main(args)
    if tool == "admin":
        print(JAMM_BANNER, file=sys.stderr, flush=True)
        pause(startup_seconds())  # clock.pause: time.sleep breaks under libfaketime
        from .admin_cli import run  # noqa: PLC0415 - one tool per process

        return run(args)
    print(f"Error: Could not find or load main class {tool}", file=sys.stderr)
    return 1
