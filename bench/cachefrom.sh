#!/usr/bin/env bash
# A CI fleet of fresh machines and `docker build --cache-from`
# (`make bench-cachefrom`): the examples/redis image built on fresh data
# roots, with and without --cache-from, through the docker CLI
# (DOCKER_BUILDKIT=0). Prints a table; writes nothing into the tree.
#
# A build machine imports the Debian base (scripts/debian-base.sh), pushes
# it to a loopback docker-registry, builds examples/redis and pushes it as
# app:latest. Then, ROUNDS times (default 3) each way, a fresh gantryd (a
# new data root) pulls the base (as a fleet's machine would from Docker
# Hub) and builds the example: cold, and after `docker pull app:latest`
# with --cache-from app:latest. The RUN step installs redis-server from
# Debian's mirror (deb.debian.org, here through apt's proxy), so the
# gantryds run in the host's network namespace, one at a time.
#
# Environment: ROUNDS; GANTRYD (default bin/gantryd); BENCH_CACHE (default
# /var/tmp/gantry-bench) holds the base rootfs tar.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
GANTRYD=${GANTRYD:-bin/gantryd}
export BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
unset DOCKER_BUILDKIT
. bench/lib.sh
bench_init gantry-bench-cachefrom docker docker-registry curl
tar=$(scripts/debian-base.sh) || die "no Debian base rootfs (scripts/debian-base.sh said why)"
trap stop_daemons EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$port
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n' "$work/registry" "$REG" >"$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

# machine NAME: starts a gantryd on a data root of its own ($H), after
# stopping the one before.
gpid=
machine() {
	if [ -n "$gpid" ]; then
		kill -TERM "$gpid"
		wait "$gpid" 2>/dev/null || true
	fi
	local d=$work/m-$1
	mkdir -p "$d"
	"$GANTRYD" --data-root "$d/root" --exec-root "$d/exec" -H "unix://$d/d.sock" --log-level warn >"$d/log" 2>&1 &
	gpid=$!
	pids+=("$gpid")
	wait_ping "$d/d.sock" "$gpid" || { tail -20 "$d/log" >&2; die "gantryd did not start"; }
	H=unix://$d/d.sock
}
dk() { DOCKER_HOST=$H DOCKER_CONFIG=$work/dc docker "$@"; }

log "build machine: base and app:latest to the registry at $REG"
machine build
dk import -c 'CMD ["bash"]' "$tar" "$REG/debian:bookworm" >/dev/null
dk push -q "$REG/debian:bookworm" >/dev/null
dk tag "$REG/debian:bookworm" debian:bookworm
dk build -q -t "$REG/app:latest" examples/redis >/dev/null 2>&1 || die "the build machine's build failed"
dk push -q "$REG/app:latest" >/dev/null

# fresh MODE N: a new machine builds the example, with MODE "with" or
# "without" --cache-from; appends the build's ms to $work/MODE, and the
# pull of app:latest to $work/pull.
fresh() {
	local t args=()
	machine "$1-$2"
	dk pull -q "$REG/debian:bookworm" >/dev/null
	dk tag "$REG/debian:bookworm" debian:bookworm
	if [ "$1" = with ]; then
		t=$(now_ns)
		dk pull -q "$REG/app:latest" >/dev/null
		ms_since "$t" >>"$work/pull"
		args=(--cache-from "$REG/app:latest")
	fi
	t=$(now_ns)
	dk build "${args[@]}" -t app:ci examples/redis >"$work/out.$1" 2>&1 || { cat "$work/out.$1" >&2; die "build $1 --cache-from failed"; }
	ms_since "$t" >>"$work/$1"
	if [ "$1" = with ] && { grep -q 'Running in' "$work/out.$1" || [ "$(dk image inspect -f "{{.Id}}" app:ci)" != "$(dk image inspect -f "{{.Id}}" "$REG/app:latest")" ]; }; then
		cat "$work/out.$1" >&2
		die "the build with --cache-from ran a step or made another image than app:latest"
	fi
}
for n in $(seq "$ROUNDS"); do
	if [ $((n % 2)) = 1 ]; then fresh without "$n"; fresh with "$n"; else fresh with "$n"; fresh without "$n"; fi
	log "round $n: without $(tail -1 "$work/without") ms, with $(tail -1 "$work/with") ms (+ pull $(tail -1 "$work/pull") ms)"
done
echo
echo "examples/redis on a fresh machine, through the docker CLI ($(nproc) cores), median of $ROUNDS"
printf '%-50s %10s\n' measure ms
printf '%-50s %10s\n' "build, cold" "$(median "$work/without")"
printf '%-50s %10s\n' "build --cache-from app:latest (after its pull)" "$(median "$work/with")"
printf '%-50s %10s\n' "pull of app:latest" "$(median "$work/pull")"
