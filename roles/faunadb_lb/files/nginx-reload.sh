# Reload nginx and wait until it has switched: nginx -s reload only signals the
# master, and until the new workers run, the old ones still accept connections
# with the old configuration. Done when a worker that did not exist before
# runs and every old one is gone or "is shutting down" (finishing the requests
# it holds). Runs inside the load balancer container (sh, /proc; no ps needed).
set -eu
workers() {
    for dir in /proc/[0-9]*; do
        title=$(tr '\0' ' ' < "$dir/cmdline" 2>/dev/null | sed 's/ *$//') || continue
        [ "$title" = "nginx: worker process" ] && echo "${dir#/proc/}"
    done
    return 0
}
old=" $(workers | tr '\n' ' ') "
nginx -s reload
tries=0
while :; do
    fresh=no stale=no
    for pid in $(workers); do
        case "$old" in
            *" $pid "*) stale=yes ;;
            *) fresh=yes ;;
        esac
    done
    [ "$fresh" = yes ] && [ "$stale" = no ] && exit 0
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
        echo "nginx did not switch to the new configuration within 10 s; see the container's log" >&2
        exit 1
    fi
    sleep 0.1
done
