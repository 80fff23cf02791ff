#!/usr/bin/env bash
# Benchmark of the bridge network's published ports (`make bench-network`):
# the Redis example (examples/redis, on the debian:bookworm base made by
# scripts/debian-base.sh) runs twice under one gantryd, once with
# `-p PORT:6379` on the default bridge and once with `--network host`, and
# `redis-benchmark -t set,get -n N` runs against each from the host, REPEAT
# rounds with the order alternating. Prints requests per second (medians)
# and the ratio published/host. (`docker run --rm busybox true` on the
# bridge is measured by bench/run.sh, the default network being the bridge.)
#
# Environment: N (default 100000), REPEAT (default 3), GANTRYD (default
# bin/gantryd), BENCH_CACHE (see scripts/debian-base.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-100000}
REPEAT=${REPEAT:-3}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/redis:latest
PUB_PORT=16379
HOST_PORT=16380

. bench/lib.sh
bench_init gantry-bench-net docker curl redis-benchmark redis-cli
trap 'docker rm -f bench-redis-pub bench-redis-host >/dev/null 2>&1 || true; stop_daemons' EXIT

start_gantryd
export DOCKER_HOST=$gantry_host

log "importing debian:bookworm and building the Redis example"
docker import -c 'CMD ["bash"]' "$(scripts/debian-base.sh)" debian:bookworm >/dev/null
docker build -q -t "$IMG" examples/redis >/dev/null
docker run -d --name bench-redis-pub -p "$PUB_PORT:6379" "$IMG" >/dev/null
docker run -d --name bench-redis-host --network host "$IMG" redis-server --protected-mode no --port "$HOST_PORT" --save '' >/dev/null

ready() { for _ in $(seq 100); do [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done; return 1; }
ready "$PUB_PORT" || die "redis on the published port did not answer"
ready "$HOST_PORT" || die "redis on the host network did not answer"

# bench_port NAME PORT: one redis-benchmark run, rps appended to NAME.set/.get.
bench_port() {
	local out
	out=$(redis-benchmark -h 127.0.0.1 -p "$2" -t set,get -n "$N" -q 2>/dev/null | tr '\r' '\n')
	awk '/^SET:/{print $2}' <<<"$out" | tail -1 >>"$work/$1.set"
	awk '/^GET:/{print $2}' <<<"$out" | tail -1 >>"$work/$1.get"
	log "$1: $(awk '/^(SET|GET):/' <<<"$out" | tail -2 | tr '\n' ' ')"
}
bench_port warmup "$PUB_PORT"
for i in $(seq "$REPEAT"); do
	if [ $((i % 2)) = 1 ]; then
		bench_port published "$PUB_PORT"
		bench_port host "$HOST_PORT"
	else
		bench_port host "$HOST_PORT"
		bench_port published "$PUB_PORT"
	fi
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
printf '\n%-28s %14s %14s %8s\n' "redis-benchmark -n $N" "published" "host network" "ratio"
for t in set get; do
	p=$(median "$work/published.$t")
	h=$(median "$work/host.$t")
	printf '%-28s %14s %14s %8s\n' "$t (requests/s, median)" "$p" "$h" "$(ratio "$p" "$h")"
done
echo "target: published >= 0.80 of host network"
