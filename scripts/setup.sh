#!/usr/bin/env bash
# Bring this machine to a working toolchain: system packages, a Docker engine,
# the Python venv, the collections and the images. Idempotent; every step is
# skipped when its result is already present, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
python=${PYTHON:-python3}
step() { printf '\n== setup: %s\n' "$*"; }

# --- system packages -------------------------------------------------------
# command -> Debian package that provides it (libfaketime has no command, so
# its library path stands in).
declare -A needs=(
  [dockerd]=docker.io
  [debootstrap]=debootstrap
  [iptables]=iptables
  [faketime]=faketime
  [/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1]=libfaketime
  [tar]=tar
  [javac]=openjdk-17-jdk-headless
  [/usr/sbin/sshd]=openssh-server
)
step "system packages"
missing=()
for what in "${!needs[@]}"; do
  if [[ $what == /* ]]; then [ -e "$what" ] && continue
  else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("${needs[$what]}")
done
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3-venv")
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "all present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  # Install, never start: services (sshd on :22, dockerd) are started by the
  # project itself where and when it needs them (tests start sshd on loopback).
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && own_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if $own_policy; then rm -f "$policy"; fi
else
  echo "missing: ${missing[*]}" >&2
  echo "install them (Debian: apt-get install ${missing[*]}) or run this as root on Debian" >&2
  exit 1
fi

# --- Docker engine ---------------------------------------------------------
step "Docker engine"
scripts/docker-engine.sh

# --- Python venv -------------------------------------------------------------
step "Python venv ($venv)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "Python >= 3.10 is required ($python is $("$python" -V 2>&1))" >&2; exit 1; }
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  echo "up to date"
else
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  # uv (from PyPI, into the venv) installs the same list in under half of
  # pip's time (2026-12-08: 21 s from empty caches against 49 s, both
  # compiling bytecode); pip stays the fallback, and the one that reads
  # pip.conf (a mirror, find-links). Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE
  # set (as on these machines) nothing else writes it, and every Ansible
  # process then compiles what it imports (0.5 s more per `ansible` call).
  if "$venv/bin/pip" install -q "uv>=0.5,<1" >/dev/null 2>&1 &&
     "$venv/bin/uv" pip install -q --compile-bytecode --python "$venv/bin/python" \
       -r requirements.txt; then
    echo "installed (uv)"
  else
    echo "uv unavailable or failed: installing with pip"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q -r requirements.txt
    echo "installed (pip)"
  fi
  echo "$want" > "$venv/.requirements.sha256"
fi

# --- collections -------------------------------------------------------------
step "collections (requirements.yml)"
want=$(sha256sum requirements.yml requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.collections.sha256" 2>/dev/null)" = "$want" ]; then
  echo "up to date"
else
  # They ship inside the `ansible` package: this must succeed without Galaxy.
  "$venv/bin/ansible-galaxy" collection install -r requirements.yml
  echo "$want" > "$venv/.collections.sha256"
fi

# --- images ------------------------------------------------------------------
step "images"
# What the default inventory needs (base, load balancer, the test double). The
# systemd "VM" image only the molecule service scenario needs: `make molecule`
# builds it, or FAUNADB_VM_IMAGE=true here. `make run` sets SETUP_IMAGES=false:
# site.yml's own docker_hosts play builds what its inventory needs.
if [ "${SETUP_IMAGES:-true}" = true ]; then
  "$venv/bin/ansible-playbook" playbooks/docker_hosts.yml -e "faunadb_vm_image_wanted=${FAUNADB_VM_IMAGE:-false}"
else
  echo "left to the playbook (SETUP_IMAGES=false)"
fi
