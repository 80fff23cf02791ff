#!/usr/bin/env bash
# Benchmark of push and pull, Gantry against Docker, both driven by the
# docker CLI (`make bench-registry`). Prints a table; writes nothing into the
# tree.
#
#   push   a 170 MB single-layer Debian rootfs, freshly imported, pushed to
#          a loopback docker-registry, a new one each round, so that the
#          layer is compressed and uploaded every time
#   pull   the same image pulled back after rmi (nothing of it local)
#
# Docker's column uses the dockerd at /var/run/docker.sock (required). The
# engines take turns, the first one alternating per round, so that neither
# always pays for the other's disk writes; after a warm-up round (not
# counted), medians of ROUNDS rounds (default 5) and Gantry/Docker ratios
# are printed, with the size of the layer each engine pushed: Gantry
# compresses at gzip's BestSpeed (daemon/push.go, gzipLevel), Docker at
# gzip's default level, so its layer is smaller and slower to make.
#
# Environment: ROUNDS; GANTRYD (default bin/gantryd) and
# GANTRYD_EXTRA_ARGS; BENCH_CACHE (default /var/tmp/gantry-bench) holds the
# rootfs tar (scripts/debian-base.sh makes it when missing).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
export BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
DOCKERD=unix:///var/run/docker.sock

. bench/lib.sh
bench_init gantry-bench-registry docker docker-registry curl
tar=$(scripts/debian-base.sh) || die "no Debian base rootfs (scripts/debian-base.sh said why)"
DOCKER_HOST=$DOCKERD docker version >/dev/null 2>&1 || die "no dockerd at $DOCKERD"

REG=
cleanup() {
	[ -z "$REG" ] || DOCKER_HOST=$DOCKERD docker rmi -f "$REG/gantry-bench/docker:latest" >/dev/null 2>&1 || true
	stop_daemons
}
trap cleanup EXIT

# start_registry: a new, empty registry on a free loopback port ($REG), so
# that nothing of an earlier round can be mounted or skipped.
regpid=
start_registry() {
	[ -z "$regpid" ] || { kill "$regpid"; wait "$regpid" 2>/dev/null || true; }
	local port dir
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	REG=127.0.0.1:$port
	dir=$work/registry-$port
	mkdir -p "$dir"
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n' "$dir" "$REG" >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	regpid=$!
	pids+=($regpid)
	for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && return 0; sleep 0.1; done
	die "docker-registry did not start"
}

start_gantryd
GANTRY=$gantry_host

# unique_tar: $work/rootfs.tar, the rootfs plus a file of random bytes, so
# that no engine has the layer from elsewhere (a shared dockerd may hold
# other imports of the same rootfs).
unique_tar() {
	cp "$tar" "$work/rootfs.tar"
	mkdir -p "$work/salt" && head -c 64 /dev/urandom | od -An -tx1 >"$work/salt/salt"
	tar -C "$work/salt" -rf "$work/rootfs.tar" salt
}

# pushed_bytes REPO: the summed layer sizes of REPO:latest's manifest in
# the registry.
pushed_bytes() {
	curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REG/v2/$1/manifests/latest" |
		python3 -c 'import json, sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}

# round ENGINE HOST: import the rootfs (untimed: the image is as an import
# or a build leaves it), push, rmi, pull; appends ms to the files, and the
# pushed layer size to ENGINE.size.
round() {
	local eng=$1 h=$2 ref=$REG/gantry-bench/$1:latest t
	DOCKER_HOST=$h docker import "$work/rootfs.tar" "$ref" >/dev/null
	sync
	t=$(now_ns)
	DOCKER_HOST=$h docker push -q "$ref" >/dev/null
	ms_since "$t" >>"$work/$eng.push"
	pushed_bytes "gantry-bench/$eng" >>"$work/$eng.size" || die "no manifest of gantry-bench/$eng in the registry"
	DOCKER_HOST=$h docker rmi "$ref" >/dev/null 2>&1 || true # a shared dockerd may have lost it already
	sync
	t=$(now_ns)
	DOCKER_HOST=$h docker pull -q "$ref" >/dev/null
	ms_since "$t" >>"$work/$eng.pull"
	DOCKER_HOST=$h docker rmi "$ref" >/dev/null 2>&1 || true # a shared dockerd may have lost it already
}

# Round 0 is the warm-up: its numbers are dropped.
for n in $(seq 0 "$ROUNDS"); do
	start_registry
	unique_tar
	if [ $((n % 2)) = 1 ]; then
		round gantry "$GANTRY"; round docker "$DOCKERD"
	else
		round docker "$DOCKERD"; round gantry "$GANTRY"
	fi
	if [ "$n" = 0 ]; then
		log "warm-up round done (not counted)"
		rm -f "$work"/*.push "$work"/*.pull "$work"/*.size
		continue
	fi
	log "round $n: gantry push $(tail -1 "$work/gantry.push") ms pull $(tail -1 "$work/gantry.pull") ms, docker push $(tail -1 "$work/docker.push") ms pull $(tail -1 "$work/docker.pull") ms"
done

printf '%-8s %12s %12s %8s\n' measure "gantry ms" "docker ms" ratio
for m in push pull; do
	g=$(median "$work/gantry.$m") d=$(median "$work/docker.$m")
	printf '%-8s %12s %12s %8s\n' "$m" "$g" "$d" "$(awk -v g="$g" -v d="$d" 'BEGIN{printf "%.2f", g/d}')"
done
g=$(median "$work/gantry.size") d=$(median "$work/docker.size")
printf '%-8s %12s %12s %8s\n' layer "$((g / 1000000)) MB" "$((d / 1000000)) MB" "$(awk -v g="$g" -v d="$d" 'BEGIN{printf "%.2f", g/d}')"
echo "(layer: the pushed, gzip-compressed layer; Gantry compresses at gzip's BestSpeed, Docker at gzip's default level)"
