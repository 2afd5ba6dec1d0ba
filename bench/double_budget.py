#!/usr/bin/env python3
"""Budget check for the FaunaDB test double (a benchmark script, not a test).

Starts a 3 replicas x 3 nodes cluster of the double, forms it with
faunadb-admin, then prints:

* idle CPU of all node processes together over ~20 s, as % of one core
  (budget: < 5 %), read from /proc/<pid>/stat;
* resident memory per node (budget: < 60 MB), from /proc/<pid>/status;
* median latency of a write through one node over 200 writes with the
  `faunadb` driver (budget: < 20 ms).

Modes: ``--mode docker`` (default when the image exists): one container per
node from faunalab/faunadb-double:<tag> on a private network, plus an nginx
container in front when faunalab/nginx:bookworm exists; ``--mode loopback``:
node processes on 127.x addresses. Everything started is removed at the end.

    .venv/bin/python bench/double_budget.py [--mode docker|loopback] [--idle 20] [--writes 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "faunadb_double"))

from faunadb_double.auth import hash_key  # noqa: E402
from faunadb_double.testing import LoopbackCluster, project_image, wait_until  # noqa: E402

IMAGE = project_image()
NGINX_IMAGE = "faunalab/nginx:bookworm"
KEY = "bench-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BUDGET_CPU_PCT, BUDGET_RSS_MB, BUDGET_WRITE_MS = 5.0, 60.0, 20.0


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=300)


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(pids: dict[str, int], idle_s: float) -> tuple[float, dict[str, float]]:
    before = {n: cpu_ticks(p) for n, p in pids.items()}
    start = time.monotonic()
    time.sleep(idle_s)
    elapsed = time.monotonic() - start
    used = sum(cpu_ticks(p) - before[n] for n, p in pids.items()) / CLK_TCK
    return 100.0 * used / elapsed, {n: rss_mb(p) for n, p in pids.items()}


def write_latency(address: str, writes: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from faunadb import query as q  # noqa: PLC0415
        from faunadb.client import FaunaClient  # noqa: PLC0415
    client = FaunaClient(secret=KEY, domain=address, port=8443, scheme="http", timeout=10)
    client.query(q.create_collection({"name": "bench"}))
    samples = []
    for i in range(writes):
        start = time.perf_counter()
        client.query(q.create(q.collection("bench"), {"data": {"i": i}}))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


# -- docker mode ---------------------------------------------------------------

# As the node role runs a release: launchers by path, JAVA_OPTS set, a flags
# file, faunadb-admin finding its config through FAUNADB_CONFIG.
ENTRY = ('sed "s/BROADCAST/$(hostname -i | cut -d" " -f1)/" /tmp/faunadb.yml.in '
         "> /etc/faunadb/faunadb.yml && echo '{\"version\": 1, \"properties\": []}' "
         "> /etc/faunadb/feature-flags.json && "
         "exec /opt/faunadb/bin/faunadb -c /etc/faunadb/faunadb.yml")
RUN_ENV = ["-e", "JAVA_OPTS=", "-e", "MAX_HEAP_SIZE=256M", "-e", "MAX_DIRECT_SIZE=128M",
           "-e", "FAUNADB_CONFIG=/etc/faunadb/faunadb.yml", "-e", f"FAUNADB_ROOT_KEY={KEY}",
           "-e", "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS=0.1"]
ADMIN = "/opt/faunadb/bin/faunadb-admin"


def run_docker(idle_s: float, writes: int) -> dict:
    tag = uuid.uuid4().hex[:6]
    network = f"fdbbench-{tag}"
    names = [f"fdbbench-{tag}-r{r}n{n}" for r in (1, 2, 3) for n in (1, 2, 3)]
    tmp = tempfile.mkdtemp(prefix="fdbbench-")
    cfg = os.path.join(tmp, "faunadb.yml.in")
    with open(cfg, "w", encoding="utf-8") as fh:
        fh.write(f"auth_root_key_hash: {hash_key(KEY)}\nnetwork_broadcast_address: BROADCAST\n"
                 "flags_path: /etc/faunadb/feature-flags.json\n")
    os.chmod(cfg, 0o644)
    os.chmod(tmp, 0o755)  # noqa: S103 - the engine must read the bind-mounted file
    started = []
    try:
        docker("network", "create", network)
        for name in names:
            docker("run", "-d", "--name", name, "--network", network, *RUN_ENV, "-v",
                   f"{cfg}:/tmp/faunadb.yml.in:ro", "--entrypoint", "sh", IMAGE, "-c", ENTRY)
            started.append(name)
        ips = {}
        for name in names:
            info = json.loads(docker("inspect", name).stdout)[0]
            ips[name] = info["NetworkSettings"]["Networks"][network]["IPAddress"]

        def admin(name, *args):
            return docker("exec", name, ADMIN, *args)

        for name in names:
            wait_until(lambda n=name: docker("exec", n, ADMIN, "show-identity",
                                             check=False).returncode == 0, 30, 0.5, name)
        admin(names[0], "init", "-r", "replica1")
        for name in names[1:]:
            admin(name, "join", ips[names[0]], "-r", f"replica{name[-3]}")
        admin(names[0], "update-replica", "data+log", "replica2", "replica3")
        wait_until(lambda: all(n["status"] == "up" for n in json.loads(
            admin(names[0], "status", "--json").stdout)["nodes"]), 30, 0.5, "all up")
        wait_until(lambda: admin(names[0], "movement-status").stdout.startswith("No data"),
                   30, 0.5, "no movement")
        nginx = None
        if docker("image", "inspect", NGINX_IMAGE, check=False).returncode == 0:
            nginx = f"fdbbench-{tag}-lb"
            conf = os.path.join(tmp, "nginx.conf")
            upstream = "".join(f"server {ip}:8443;" for ip in ips.values())
            with open(conf, "w", encoding="utf-8") as fh:
                fh.write("events {} http { upstream fauna {" + upstream + "} "
                         "server { listen 8443; location / { proxy_pass http://fauna; } } }\n")
            os.chmod(conf, 0o644)
            docker("run", "-d", "--name", nginx, "--network", network, "-v",
                   f"{conf}:/etc/nginx/nginx.conf:ro", NGINX_IMAGE)
            started.append(nginx)
        pids = {n: int(docker("inspect", "-f", "{{.State.Pid}}", n).stdout) for n in started}
        dead = [n for n, pid in pids.items() if pid == 0]
        if dead:
            raise RuntimeError(f"containers exited: {dead}: {docker('logs', dead[0]).stderr}")
        time.sleep(2)  # let start-up work settle before sampling "idle"
        cpu, rss = measure(pids, idle_s)
        latency = write_latency(ips[names[0]], writes)
        return {"mode": "docker", "nginx": bool(nginx), "cpu": cpu, "rss": rss,
                "latency": latency}
    finally:
        for name in started:
            docker("rm", "-f", name, check=False)
        docker("network", "rm", network, check=False)


# -- loopback mode -----------------------------------------------------------------


def run_loopback(idle_s: float, writes: int) -> dict:
    with LoopbackCluster(replicas=3, nodes_per_replica=3, root_key=KEY) as cluster:
        cluster.start_all()
        cluster.form(timeout=30)
        time.sleep(2)
        pids = {n.name: n.pid for n in cluster.nodes}
        cpu, rss = measure(pids, idle_s)
        latency = write_latency(cluster.nodes[0].address, writes)
        return {"mode": "loopback", "nginx": False, "cpu": cpu, "rss": rss, "latency": latency}


def main() -> int:
    parser = argparse.ArgumentParser(description="FaunaDB test double budget check")
    parser.add_argument("--mode", choices=("docker", "loopback"))
    parser.add_argument("--idle", type=float, default=20.0, help="idle sampling seconds")
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    mode = args.mode
    if mode is None:
        have_image = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                                    check=False).returncode == 0
        mode = "docker" if have_image else "loopback"
    result = (run_docker if mode == "docker" else run_loopback)(args.idle, args.writes)
    worst = max(result["rss"].values())
    print(f"mode: {result['mode']} (3 replicas x 3 nodes"
          f"{', nginx in front' if result['nginx'] else ', no nginx image'})")
    print(f"idle CPU, all processes: {result['cpu']:.2f}% of one core "
          f"(budget < {BUDGET_CPU_PCT}%) over {args.idle:.0f} s")
    for name, mb in sorted(result["rss"].items()):
        print(f"  RSS {name}: {mb:.1f} MB")
    print(f"max RSS per node: {worst:.1f} MB (budget < {BUDGET_RSS_MB} MB)")
    print(f"median write latency through one node: {result['latency']:.2f} ms over "
          f"{args.writes} writes (budget < {BUDGET_WRITE_MS} ms)")
    ok = (result["cpu"] < BUDGET_CPU_PCT and worst < BUDGET_RSS_MB
          and result["latency"] < BUDGET_WRITE_MS)
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
