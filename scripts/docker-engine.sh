#!/usr/bin/env bash
# Make sure a Docker engine answers. An engine that already answers (honouring
# DOCKER_HOST) is used as it is; otherwise, as root on this machine, start
# dockerd in the background and wait for it. Exit 0 when `docker info`
# answers, 1 (with the engine log's last lines) when it cannot be started.
set -euo pipefail

log=${FAUNALAB_DOCKERD_LOG:-/var/log/faunalab/dockerd.log}
pidfile=/var/run/docker.pid
sock=/var/run/docker.sock
wait_s=${FAUNALAB_DOCKERD_WAIT:-60}

answers() { timeout 10 docker info >/dev/null 2>&1; }

if answers; then
  echo "engine: answering (${DOCKER_HOST:-unix://$sock})"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix://$sock" ]; then
  echo "engine: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "engine: no Docker engine answers and starting one needs root (or a user in the docker group with a running engine)" >&2
  exit 1
fi
command -v dockerd >/dev/null || { echo "engine: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }

# A dockerd that died leaves its pid file and socket behind; dockerd refuses to
# start over a pid file whose process still looks alive, and a dead socket
# makes clients hang instead of failing.
for pf in "$pidfile" /var/run/docker/containerd/containerd.pid; do
  if [ -f "$pf" ] && ! kill -0 "$(cat "$pf" 2>/dev/null)" 2>/dev/null; then
    echo "engine: removing stale $pf"
    rm -f "$pf"
  fi
done
if [ -f "$pidfile" ]; then
  echo "engine: dockerd (pid $(cat "$pidfile")) is running but does not answer yet"
else
  [ -S "$sock" ] && { echo "engine: removing stale $sock"; rm -f "$sock"; }
  mkdir -p "$(dirname "$log")"
  echo "engine: starting dockerd (log: $log)"
  # setsid: the engine must outlive this script and the make that called it.
  setsid nohup dockerd --pidfile "$pidfile" >>"$log" 2>&1 </dev/null &
fi

for _ in $(seq "$wait_s"); do
  if answers; then
    echo "engine: answering after start"
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not answer within ${wait_s}s; last lines of $log:" >&2
tail -n 25 "$log" >&2 || true
exit 1
