#!/usr/bin/env python3
"""Build the FaunaDB test double like a FaunaDB release.

    python3 tests/faunadb_double/package.py [--out DIR]    # release tarball
    python3 tests/faunadb_double/package.py --jar PATH     # lib/faunadb.jar only (Dockerfile)
    python3 tests/faunadb_double/package.py --install DIR  # DIR/bin/..., DIR/lib/faunadb.jar

The tarball, DIR/faunadb-double-VERSION.tar.gz (DIR defaults to build/ at the
repository root), is laid out like a FaunaDB release:

    faunadb-VERSION/bin/faunadb
    faunadb-VERSION/bin/faunadb-admin
    faunadb-VERSION/lib/faunadb.jar
    faunadb-VERSION/README.md

lib/faunadb.jar is a Python zipapp of the faunadb_double package, which the
bash launchers run with `python3` where FaunaDB's run `java -jar`. Runtime
needs: bash, python3 (>= 3.11) with PyYAML and bcrypt (Debian: python3-yaml,
python3-bcrypt).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PACKAGE = os.path.join(HERE, "faunadb_double")
LAUNCHERS = ("faunadb", "faunadb-admin")
sys.path.insert(0, HERE)

from faunadb_double import VERSION  # noqa: E402

# testing.py drives the double from tests; it is no part of the "release".
_NOT_SHIPPED = {"testing.py"}
_JAR_MAIN = "import sys\n\nfrom faunadb_double.jvm import main\n\nsys.exit(main())\n"


def jar_bytes() -> bytes:
    """The zipapp, byte-for-byte reproducible (fixed order and timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as jar:
        members = [("__main__.py", _JAR_MAIN.encode())]
        for name in sorted(os.listdir(PACKAGE)):
            if name.endswith(".py") and name not in _NOT_SHIPPED:
                with open(os.path.join(PACKAGE, name), "rb") as fh:
                    members.append((f"faunadb_double/{name}", fh.read()))
        for arcname, data in members:
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            jar.writestr(info, data)
    return buf.getvalue()


def build_jar(path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(jar_bytes())
    return path


def install(prefix: str) -> str:
    """PREFIX/bin/faunadb, PREFIX/bin/faunadb-admin, PREFIX/lib/faunadb.jar."""
    os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
    for name in LAUNCHERS:
        dest = os.path.join(prefix, "bin", name)
        shutil.copyfile(os.path.join(HERE, "bin", name), dest)
        os.chmod(dest, 0o755)  # noqa: S103 - launchers, as in a release
    build_jar(os.path.join(prefix, "lib", "faunadb.jar"))
    return prefix


def _add(tar: tarfile.TarFile, arcname: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0  # reproducible archives
    tar.addfile(info, io.BytesIO(data))


def build(out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    top = f"faunadb-{VERSION}"
    path = os.path.join(out_dir, f"faunadb-double-{VERSION}.tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in LAUNCHERS:
            with open(os.path.join(HERE, "bin", name), "rb") as fh:
                _add(tar, f"{top}/bin/{name}", fh.read(), 0o755)
        _add(tar, f"{top}/lib/faunadb.jar", jar_bytes(), 0o644)
        with open(os.path.join(HERE, "README.md"), "rb") as fh:
            _add(tar, f"{top}/README.md", fh.read(), 0o644)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--out", default=os.path.join(REPO, "build"), help="tarball directory")
    what.add_argument("--jar", help="write only lib/faunadb.jar, to this path")
    what.add_argument("--install", help="write bin/ and lib/faunadb.jar under this prefix")
    args = parser.parse_args()
    if args.jar:
        print(build_jar(args.jar))
    elif args.install:
        print(install(args.install))
    else:
        print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
