#!/usr/bin/env bash
# The seed tutorial's cluster built by hand, without Ansible: the baseline
# bench/provision.py times site.yml against. It does the work site.yml does,
# in FaunaDB's own build order, with the same node settings:
#
#   network -> nodes (docker create, files in, docker start) -> every admin API
#   answers -> init on the first node -> join the others through it, one at a
#   time -> update-replica data+log -> nginx -> a write ping through nginx ->
#   no data movement (site.yml's end state).
#
#   bench/tutorial.sh [up]       build it (prints each step's seconds)
#   bench/tutorial.sh down       remove everything it built (containers, volumes, network)
#
# Settings (flag or environment variable; defaults in brackets):
#   --image IMAGE        TUT_IMAGE        [faunalab/faunadb-double:1.0.0]; a real release
#                                         image (make image) works too: only docker and
#                                         faunadb-admin inside the container are used
#   --replicas N         TUT_REPLICAS     [3]
#   --nodes N            TUT_NODES        nodes per replica [3]
#   --prefix P           TUT_PREFIX       container name prefix [tut_]
#   --network NAME       TUT_NETWORK      [faunadb-tutorial]
#   --subnet CIDR        TUT_SUBNET       a /24 [172.29.51.0/24]; node rR nN gets .RN, nginx .2
#   --port PORT          TUT_PORT         nginx on 127.0.0.1:PORT [18751]
#   --env KEY=VALUE      TUT_NODE_ENV     extra node environment (repeatable; the variable
#                                         holds space-separated KEY=VALUE pairs)
#   --memory SIZE        TUT_MEMORY       per node [4g]
#   --cpus N             TUT_CPUS         per node [1.0]
#   --cluster NAME       TUT_CLUSTER      cluster_name in faunadb.yml [tutorial]
#   --timeout SECONDS    TUT_TIMEOUT      bound of each wait [600]
#   --lb-image IMAGE     TUT_LB_IMAGE     [faunalab/nginx:bookworm]
#
# The root key comes from FAUNADB_ROOT_KEY, else from TUT_KEY_FILE
# [bench/.secrets/tutorial.root_key], generated there (0600) when missing. It
# never reaches a command line: nodes get only its bcrypt hash (made by
# Python's bcrypt, TUT_PYTHON [.venv/bin/python], reading the key from its
# environment), and faunadb-admin gets the key through `docker exec -e
# FAUNADB_ROOT_KEY`, which copies the value from this script's environment.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

IMAGE=${TUT_IMAGE:-faunalab/faunadb-double:1.0.0}
LB_IMAGE=${TUT_LB_IMAGE:-faunalab/nginx:bookworm}
REPLICAS=${TUT_REPLICAS:-3}
NODES=${TUT_NODES:-3}
PREFIX=${TUT_PREFIX:-tut_}
NETWORK=${TUT_NETWORK:-faunadb-tutorial}
SUBNET=${TUT_SUBNET:-172.29.51.0/24}
PORT=${TUT_PORT:-18751}
MEMORY=${TUT_MEMORY:-4g}
CPUS=${TUT_CPUS:-1.0}
CLUSTER=${TUT_CLUSTER:-tutorial}
TIMEOUT=${TUT_TIMEOUT:-600}
KEY_FILE=${TUT_KEY_FILE:-$here/.secrets/tutorial.root_key}
PYTHON=${TUT_PYTHON:-$here/../.venv/bin/python}
read -r -a NODE_ENV <<< "${TUT_NODE_ENV:-}"
ACTION=up

while (($#)); do
    case $1 in
        up | down) ACTION=$1 ;;
        --image) IMAGE=$2; shift ;;
        --lb-image) LB_IMAGE=$2; shift ;;
        --replicas) REPLICAS=$2; shift ;;
        --nodes) NODES=$2; shift ;;
        --prefix) PREFIX=$2; shift ;;
        --network) NETWORK=$2; shift ;;
        --subnet) SUBNET=$2; shift ;;
        --port) PORT=$2; shift ;;
        --env) NODE_ENV+=("$2"); shift ;;
        --memory) MEMORY=$2; shift ;;
        --cpus) CPUS=$2; shift ;;
        --cluster) CLUSTER=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (--help lists them)" >&2; exit 2 ;;
    esac
    shift
done

# Where the release lives in the image, as the roles' defaults say.
INSTALL=/opt/faunadb
CONFIG=/etc/faunadb/faunadb.yml
FLAGS=/etc/faunadb/feature-flags.json
FAKETIME_FILE=/etc/faunadb/faketime.rc
# Everything this script creates carries this label: `down` removes exactly that.
LABEL=org.faunalab.tutorial=$PREFIX
LB=${PREFIX}load_balancer
BASE=${SUBNET%.*/*}  # 172.29.51.0/24 -> 172.29.51

node_name() { echo "${PREFIX}replica$1_node$2"; }
node_addr() { echo "$BASE.$1$2"; }  # replica 2, node 3 -> .23, as inventory/local.yml
all_nodes() {
    local r n
    for ((r = 1; r <= REPLICAS; r++)); do
        for ((n = 1; n <= NODES; n++)); do echo "$r $n"; done
    done
}

# -- timing: each step's seconds and the running total --------------------------------
START_US=${EPOCHREALTIME/./}
STEP_US=$START_US
seconds_since() {  # microseconds -> "12.3"
    local us=$((${EPOCHREALTIME/./} - $1))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}
step() {
    printf 'step %-46s %7s s   total %7s s\n' "$1" "$(seconds_since "$STEP_US")" \
        "$(seconds_since "$START_US")"
    STEP_US=${EPOCHREALTIME/./}
}
die() { echo "tutorial.sh: $*" >&2; exit 1; }

# -- down -----------------------------------------------------------------------------
if [[ $ACTION == down ]]; then
    mapfile -t ids < <(docker ps -aq --filter "label=$LABEL")
    ((${#ids[@]} == 0)) || docker rm -f "${ids[@]}" > /dev/null
    mapfile -t vols < <(docker volume ls -q --filter "label=$LABEL")
    ((${#vols[@]} == 0)) || docker volume rm "${vols[@]}" > /dev/null
    # Only our own network: another one of that name is not ours to remove.
    if [[ $(docker network inspect -f "{{index .Labels \"${LABEL%%=*}\"}}" "$NETWORK" 2> /dev/null) \
        == "$PREFIX" ]]; then
        docker network rm "$NETWORK" > /dev/null
    fi
    echo "removed ${#ids[@]} containers, ${#vols[@]} volumes and the network $NETWORK"
    exit 0
fi

# -- the root key and its hash ----------------------------------------------------------
if [[ -z ${FAUNADB_ROOT_KEY:-} ]]; then
    if [[ ! -s $KEY_FILE ]]; then
        mkdir -p "$(dirname "$KEY_FILE")"
        # tr ends on SIGPIPE once head has its 40 characters: not a failure.
        (umask 077 && set +o pipefail && LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom \
            | head -c 40 > "$KEY_FILE")
    fi
    FAUNADB_ROOT_KEY=$(< "$KEY_FILE")
fi
export FAUNADB_ROOT_KEY
# $2a$ is the prefix `faunadb-admin hash-key` writes; the key is read from the
# environment so that it is on no command line.
KEY_HASH=$("$PYTHON" -c 'import os, bcrypt
print(bcrypt.hashpw(os.environ["FAUNADB_ROOT_KEY"].encode(), bcrypt.gensalt(10, b"2a")).decode())')

# faunadb-admin inside a node. It ignores -c and finds its config only through
# FAUNADB_CONFIG; `-e FAUNADB_ROOT_KEY` without a value copies ours. Each call
# starts a JVM on a real node (minutes on a busy host): bounded, not retried here.
admin() {
    local node=$1
    shift
    timeout 300 docker exec -e FAUNADB_ROOT_KEY -e "FAUNADB_CONFIG=$CONFIG" "$node" \
        "$INSTALL/bin/faunadb-admin" "$@"
}

# A file into a container, with the owner and mode FaunaDB needs, through a tar
# stream (docker cp keeps the archive's owner and mode); nothing runs inside.
put_file() {  # container, path, owner:group, mode; content on stdin
    local dir
    dir=$(mktemp -d)
    cat > "$dir/${2##*/}"
    tar --owner="${3%:*}" --group="${3#*:}" --mode="$4" -C "$dir" -cf - "${2##*/}" \
        | docker cp - "$1:${2%/*}"
    rm -rf "$dir"
}

# libfaketime sits under Debian's multiarch directory of the image's architecture.
case $(docker image inspect -f '{{.Architecture}}' "$IMAGE") in
    amd64) triplet=x86_64-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu ;;
    *) die "no libfaketime path known for the architecture of $IMAGE" ;;
esac
docker image inspect "$LB_IMAGE" > /dev/null || die "the image $LB_IMAGE is missing"

if [[ $(docker ps -aq --filter "label=$LABEL") ]]; then
    die "containers labelled $LABEL exist already: run '$0 down' first"
fi
step "checks, root key hash"

# -- 1. the network ----------------------------------------------------------------------
docker network create --driver bridge --subnet "$SUBNET" --label "$LABEL" "$NETWORK" > /dev/null
step "network $NETWORK"

# -- 2. the nodes: created, given their files, then started -----------------------------
# What site.yml gives each node: the release's launcher by its path, JAVA_OPTS
# set (the launcher aborts on an unset one) and the heap sized explicitly (it
# would read the host's memory), the clock-skew hook preloaded, a fixed
# address, named volumes for data and logs, limits and a restart policy.
env_args=(-e JAVA_OPTS= -e MAX_HEAP_SIZE=2G -e MAX_DIRECT_SIZE=1G
    -e "FAKETIME_TIMESTAMP_FILE=$FAKETIME_FILE" -e FAKETIME_CACHE_DURATION=1
    -e FAKETIME_DONT_FAKE_MONOTONIC=1 -e FAKETIME_FORCE_MONOTONIC_FIX=0
    -e "LD_PRELOAD=/usr/lib/$triplet/faketime/libfaketime.so.1")
for pair in "${NODE_ENV[@]}"; do env_args+=(-e "$pair"); done

while read -r r n; do
    node=$(node_name "$r" "$n")
    docker volume create --label "$LABEL" "$node-data" > /dev/null
    docker volume create --label "$LABEL" "$node-log" > /dev/null
    docker create --name "$node" --hostname "$node" --label "$LABEL" \
        --network "$NETWORK" --ip "$(node_addr "$r" "$n")" \
        --restart unless-stopped --memory "$MEMORY" --cpus "$CPUS" \
        -v "$node-data:/var/lib/faunadb" -v "$node-log:/var/log/faunadb" \
        "${env_args[@]}" "$IMAGE" "$INSTALL/bin/faunadb" -c "$CONFIG" > /dev/null
    # Plain scalars: the real launcher reads log_path by text, quotes included.
    put_file "$node" "$CONFIG" 0:999 0640 << EOF
# Node $node of cluster $CLUSTER, replica replica$r (bench/tutorial.sh).
auth_root_key_hash: $KEY_HASH
cluster_name: $CLUSTER
network_broadcast_address: $(node_addr "$r" "$n")
storage_data_path: /var/lib/faunadb
log_path: /var/log/faunadb
flags_path: $FLAGS
shutdown_grace_period_seconds: 30
EOF
    # Without this file the server dies at start (with exit code 0).
    echo '{"version": 1, "properties": []}' | put_file "$node" "$FLAGS" 0:999 0640
    echo '+0' | put_file "$node" "$FAKETIME_FILE" 0:0 0644
    docker start "$node" > /dev/null
done < <(all_nodes)
step "$((REPLICAS * NODES)) nodes created and started"

# -- 3. every admin API answers ----------------------------------------------------------
# Before init/join a node answers status with "uninitialized": that is up.
wait_admin() {
    local node=$1 deadline=$((SECONDS + TIMEOUT)) out
    while :; do
        if out=$(admin "$node" status 2>&1); then return 0; fi
        case $out in
            *UninitializedException* | *"not part of a cluster"* | *"Service is uninitialized"*) return 0 ;;
        esac
        if ((SECONDS >= deadline)); then
            echo "$node: admin API not answering after $TIMEOUT s: $(tail -n 3 <<< "$out")" >&2
            return 1
        fi
        sleep 2
    done
}
# The nodes boot together, so they are waited for together.
pids=()
while read -r r n; do
    wait_admin "$(node_name "$r" "$n")" &
    pids+=($!)
done < <(all_nodes)
for pid in "${pids[@]}"; do wait "$pid" || die "a node's admin API never answered"; done
step "every admin API answers"

# -- 4. init on the first node, join the others through it, one at a time -----------------
SEED=$(node_name 1 1)
out=$(admin "$SEED" init -r replica1 2>&1) || die "init failed: $(tail -n 3 <<< "$out")"
[[ $out == *"Node has initialized the cluster."* ]] || die "init: $out"
step "init $SEED"

while read -r r n; do
    ((r == 1 && n == 1)) && continue
    node=$(node_name "$r" "$n")
    out=$(admin "$node" join "$(node_addr 1 1)" -r "replica$r" 2>&1) \
        || die "join of $node failed: $(tail -n 3 <<< "$out")"
    [[ $out == *"Node has joined the cluster."* ]] || die "join of $node: $out"
    step "join $node"
done < <(all_nodes)

# -- 5. every replica data+log (init made replica1 one; joined replicas start as compute) --
if ((REPLICAS > 1)); then
    others=()
    for ((r = 2; r <= REPLICAS; r++)); do others+=("replica$r"); done
    out=$(admin "$SEED" update-replica data+log "${others[@]}" 2>&1) \
        || die "update-replica failed: $(tail -n 3 <<< "$out")"
    [[ $out == *Updated* ]] || die "update-replica: $out"
    step "update-replica data+log ${others[*]}"
fi

# -- 6. nginx, round robin over every node --------------------------------------------------
# The same configuration as roles/faunadb_lb with its defaults.
upstreams=""
backups=""
while read -r r n; do
    upstreams+="        server $(node_addr "$r" "$n"):8443 max_fails=1 fail_timeout=10s;"$'\n'
    backups+="        server $(node_addr "$r" "$n"):8443 backup max_fails=0;"$'\n'
done < <(all_nodes)

docker create --name "$LB" --hostname "$LB" --label "$LABEL" \
    --network "$NETWORK" --ip "$BASE.2" -p "127.0.0.1:$PORT:8443" \
    --restart unless-stopped "$LB_IMAGE" > /dev/null
put_file "$LB" /etc/nginx/nginx.conf 0:0 0644 << EOF
worker_processes 1;
error_log /dev/stderr warn;
pid /run/nginx.pid;
events {
    worker_connections 1024;
}
http {
    access_log off;
    map \$arg_scope \$faunadb_ping_scope {
        ""      write;
        default \$arg_scope;
    }
    upstream faunadb {
$upstreams$backups        keepalive 32;
    }
    server {
        listen 8443;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_connect_timeout 500ms;
        proxy_next_upstream_tries $((REPLICAS * NODES));
        location = /ping {
            proxy_pass http://faunadb/ping?scope=\$faunadb_ping_scope&timeout=400;
            proxy_read_timeout 1s;
            proxy_next_upstream error timeout;
        }
        location / {
            proxy_pass http://faunadb;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }
    }
}
EOF
docker start "$LB" > /dev/null
step "nginx $LB on 127.0.0.1:$PORT"

# -- 7. a write ping through nginx ------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
until curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$PORT/ping?scope=write" 2>/dev/null; do
    ((SECONDS < deadline)) || die "no write ping through nginx within $TIMEOUT s"
    sleep 1
done
step "write ping through nginx"
echo "write ping after $(seconds_since "$START_US") s"

# -- 8. data movement finished (site.yml's end state) -------------------------------------
deadline=$((SECONDS + TIMEOUT))
until [[ $(admin "$SEED" movement-status 2>/dev/null) == *"No data movement is currently in progress."* ]]; do
    ((SECONDS < deadline)) || die "data still moving after $TIMEOUT s"
    sleep 3
done
step "no data movement"
echo "movement finished after $(seconds_since "$START_US") s"
