#!/usr/bin/env bash
# The newcomer's first run of Gantry on a fresh Debian machine (as root):
# installs what is missing, builds gantry, starts gantryd on a private root,
# imports a Debian base image made with mmdebstrap, builds the Redis example
# (its RUN reaches Debian's mirror through the bridge network's NAT), runs it
# with -p 6379:6379, asks it PING from the host, rebuilds (fully cached),
# then stops and removes it and checks that no published-port rule is left.
set -euo pipefail

cd "$(dirname "$0")/.."
DEMO=${DEMO_ROOT:-/tmp/gantry-demo}
PORT=${DEMO_PORT:-6379}
IMG=gantry-example/redis:latest

[ "$(id -u)" = 0 ] || { echo "demo: run as root (gantryd mounts overlayfs, runs runc and sets up the bridge)" >&2; exit 1; }

need=()
command -v runc >/dev/null || need+=(runc)
command -v iptables >/dev/null || need+=(iptables)
command -v curl >/dev/null || need+=(curl)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v redis-cli >/dev/null || need+=(redis-tools)
if [ "${#need[@]}" -gt 0 ]; then
	echo "demo: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "demo: building"
make build

rm -rf "$DEMO"
mkdir -p "$DEMO"
sock=$DEMO/gantry.sock
bin/gantryd --data-root "$DEMO/root" --exec-root "$DEMO/run" -H "unix://$sock" --log-level info >"$DEMO/gantryd.log" 2>&1 &
gpid=$!
stop() {
	kill -TERM "$gpid" 2>/dev/null && wait "$gpid" || true
}
trap stop EXIT
for _ in $(seq 100); do
	curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
	kill -0 "$gpid" 2>/dev/null || { cat "$DEMO/gantryd.log" >&2; exit 1; }
	sleep 0.1
done
echo "demo: gantryd is running (pid $gpid, root $DEMO/root, socket $sock)"
g() { echo "+ gantry $*" >&2; bin/gantry -H "unix://$sock" "$@"; }

echo "demo: making the debian:bookworm base with mmdebstrap (cached after the first time)"
base=$(scripts/debian-base.sh)
g import -c 'CMD ["bash"]' "$base" debian:bookworm

g build -t "$IMG" examples/redis
g run -d --name gantry-demo-redis -p "$PORT:6379" "$IMG"
for _ in $(seq 50); do
	[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
echo "+ redis-cli -h 127.0.0.1 -p $PORT ping"
answer=$(redis-cli -h 127.0.0.1 -p "$PORT" ping)
echo "$answer"
[ "$answer" = PONG ] || { echo "demo: redis did not answer PONG" >&2; exit 1; }

echo "demo: rebuilding: every step comes from the cache"
out=$(g build -t "$IMG" examples/redis 2>&1)
echo "$out"
if grep -q "Running in" <<<"$out"; then echo "demo: the rebuild ran a step instead of using the cache" >&2; exit 1; fi

g stop gantry-demo-redis
g rm gantry-demo-redis
if iptables -t nat -S | grep -q -- "--dport $PORT "; then
	echo "demo: a rule for port $PORT was left behind:" >&2
	iptables -t nat -S | grep -- "--dport $PORT " >&2
	exit 1
fi
echo "demo: done; no published-port rule is left. The docker CLI works too: DOCKER_HOST=unix://$sock docker images (while gantryd runs)"
