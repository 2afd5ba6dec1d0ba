"""`faunadb -c CONFIG -b -p PIDFILE`: background start, pid file, logs, SIGTERM."""

import os
import signal
import subprocess
import sys
import time

from faunadb_double.testing import FAUNADB_BIN, port_open, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_background_with_pidfile(tmp_path):
    address = f"127.{20 + os.getpid() % 200}.2.11"
    cfg = tmp_path / "faunadb.yml"
    cfg.write_text(f"auth_root_key: k\nnetwork_broadcast_address: {address}\n"
                   f"network_admin_http_address: {address}\n"
                   f"storage_data_path: {tmp_path / 'data'}\nlog_path: {tmp_path / 'log'}\n")
    pidfile = tmp_path / "faunadb.pid"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, FAUNADB_BIN, "-c", str(cfg), "-b", "-p", str(pidfile)],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 and time.monotonic() - start < 10
    wait_until(pidfile.exists, 10, 0.1, "pid file")
    pid = int(pidfile.read_text())
    try:
        wait_until(lambda: port_open(address, 8444), 10, 0.1, "admin port")
        assert not port_open(address, 8443)  # client API only after init/join
        assert (tmp_path / "log" / "core.log").stat().st_size > 0
        assert (tmp_path / "data" / "identity.json").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid), 15, 0.1, "clean exit on SIGTERM")
    assert not pidfile.exists()
