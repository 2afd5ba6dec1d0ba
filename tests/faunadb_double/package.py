#!/usr/bin/env python3
"""Build the release-like tarball of the FaunaDB test double.

    python3 tests/faunadb_double/package.py [--out DIR]

writes DIR/faunadb-double-VERSION.tar.gz (DIR defaults to build/ at the
repository root) laid out like a FaunaDB release:

    faunadb-VERSION/bin/faunadb
    faunadb-VERSION/bin/faunadb-admin
    faunadb-VERSION/lib/faunadb_double/...
    faunadb-VERSION/README.md

Runtime needs: python3 (>= 3.11) with PyYAML and bcrypt (Debian:
python3-yaml, python3-bcrypt).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from faunadb_double import VERSION  # noqa: E402


def _add(tar: tarfile.TarFile, src: str, arcname: str, mode: int) -> None:
    info = tar.gettarinfo(src, arcname)
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0  # reproducible archives
    with open(src, "rb") as fh:
        tar.addfile(info, fh)


def build(out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    top = f"faunadb-{VERSION}"
    path = os.path.join(out_dir, f"faunadb-double-{VERSION}.tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("faunadb", "faunadb-admin"):
            _add(tar, os.path.join(HERE, "bin", name), f"{top}/bin/{name}", 0o755)
        pkg = os.path.join(HERE, "faunadb_double")
        for name in sorted(os.listdir(pkg)):
            if name.endswith(".py"):
                _add(tar, os.path.join(pkg, name), f"{top}/lib/faunadb_double/{name}", 0o644)
        _add(tar, os.path.join(HERE, "README.md"), f"{top}/README.md", 0o644)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "build"))
    print(build(parser.parse_args().out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
