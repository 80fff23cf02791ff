#!/usr/bin/env bash
# Benchmark of a build pushed right after it, Gantry against Docker, both
# driven by the docker CLI (`make bench-buildpush`). Prints a table; writes
# nothing into the tree.
#
#   build  W4 of bench/build.sh (300 MB, 30,000 files, FROM, COPY . /ctx,
#          RUN) built with --no-cache, so that its layers are new
#   push   the image pushed at once to a loopback docker-registry, to a
#          repository of its own, so that every layer is compressed and
#          uploaded (Gantry makes the layer's tar from the layer and gzips
#          it here; Docker gzips its layer here too)
#
# Each engine (gantryd, a dockerd 20.10 started here, and with BEFORE=path
# another gantryd, an older build) runs on roots of its own in one network
# namespace with the registry; they take turns, the first alternating per
# round; after a warm-up round, medians of ROUNDS rounds (default 3) and
# ratios to Docker.
#
# Environment: ROUNDS; GANTRYD (default bin/gantryd); BEFORE; DOCKERD
# (default dockerd); BENCH_CACHE (default /var/tmp/gantry-bench) keeps the
# big context between runs (bench/build.sh makes the same one).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
GANTRYD=${GANTRYD:-bin/gantryd}
BEFORE=${BEFORE:-}
DOCKERD=${DOCKERD:-dockerd}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false DOCKER_BUILDKIT=0
IMG=gantry-bench/build-busybox:latest

. bench/lib.sh
bench_init gantry-bench-buildpush docker docker-registry busybox runc curl
command -v "$DOCKERD" >/dev/null || die "$DOCKERD not found (apt-get install docker.io)"
netns=gantry-bench-buildpush-$$
cleanup() {
	stop_daemons
	ip netns del "$netns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$netns"
nsenter --net="/run/netns/$netns" ip link set lo up

ctx=$BENCH_CACHE/context-300m
if [ ! -f "$ctx/.complete" ]; then
	log "making a 300 MB, 30,000-file context in $ctx"
	rm -rf "$ctx" && mkdir -p "$ctx"
	for i in $(seq -w 0 29); do
		mkdir "$ctx/d$i"
		head -c $((1000 * 10240)) /dev/urandom | (cd "$ctx/d$i" && split -b 10240 -a 3 -d - f)
	done
	touch "$ctx/.complete"
fi
printf '.complete\n' >"$ctx/.dockerignore"
printf 'FROM %s\nCOPY . /ctx\nRUN du -sk /ctx\n' "$IMG" >"$ctx/Dockerfile"

# The registry, in the namespace, on a loopback port.
port=$((20000 + RANDOM % 20000))
REG=127.0.0.1:$port
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$work/registry/data" "$REG" >"$work/registry/config.yml"
nsenter --net="/run/netns/$netns" docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do nsenter --net="/run/netns/$netns" curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

start() { # start NAME BIN [ARGS...]: a daemon on roots under $work/NAME
	local n=$1 bin=$2
	shift 2
	mkdir -p "$work/$n"
	nsenter --net="/run/netns/$netns" "$bin" --data-root "$work/$n/root" --exec-root "$work/$n/exec" \
		-H "unix://$work/$n/d.sock" --log-level warn "$@" >"$work/$n/log" 2>&1 &
	pids+=("$!")
	wait_ping "$work/$n/d.sock" "$!" || { tail -20 "$work/$n/log" >&2; die "$n did not start"; }
	eval "H_$n=unix://$work/$n/d.sock"
}
start gantry "$GANTRYD"
start docker "$DOCKERD" --pidfile "$work/docker/pid" --iptables=false
engines=(gantry docker)
if [ -n "$BEFORE" ]; then
	start before "$BEFORE"
	engines+=(before)
fi
busybox_tar "$work/busybox.tar"
for n in "${engines[@]}"; do
	DOCKER_HOST=$(eval echo "\$H_$n") docker import "$work/busybox.tar" "$IMG" >/dev/null
done

round_of() { # round_of ENGINE HOST ROUND: one build and push, timed unless ROUND is 0
	local n=$1 h=$2 r=$3 t ref=$REG/$1-$3:1
	t=$(now_ns)
	DOCKER_HOST=$h docker build -q --no-cache -t "$ref" "$ctx" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; die "$n: build failed"; }
	local built
	built=$(ms_since "$t")
	t=$(now_ns)
	DOCKER_HOST=$h docker push "$ref" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; die "$n: push failed"; }
	local pushed
	pushed=$(ms_since "$t")
	if [ "$r" != 0 ]; then
		echo "$built" >>"$work/$n.build"
		echo "$pushed" >>"$work/$n.push"
		echo $((built + pushed)) >>"$work/$n.both"
	fi
	DOCKER_HOST=$h docker rmi "$ref" >/dev/null 2>&1 || true
}
log "W4 built with --no-cache and pushed: a warm-up round, then $ROUNDS rounds per engine"
for r in $(seq 0 "$ROUNDS"); do
	list=("${engines[@]}")
	k=$((r % ${#list[@]}))
	list=("${list[@]:k}" "${list[@]:0:k}")
	for n in "${list[@]}"; do round_of "$n" "$(eval echo "\$H_$n")" "$r"; done
done

echo
echo "Build then push, through the docker CLI ($(nproc) cores; dockerd $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}') classic builder${BEFORE:+; before: $BEFORE})"
printf '%-44s %10s %10s %8s' measure gantry docker g/d
[ -z "$BEFORE" ] || printf ' %10s %8s' before b/d
echo
for m in build push both; do
	label="W4 $m, median of $ROUNDS"
	[ "$m" != both ] || label="W4 build + push, median of $ROUNDS"
	g=$(median "$work/gantry.$m")
	d=$(median "$work/docker.$m")
	printf '%-44s %10s %10s %8s' "$label" "$g ms" "$d ms" "$(awk -v g="$g" -v d="$d" 'BEGIN{printf "%.2f", g/d}')"
	if [ -n "$BEFORE" ]; then
		b=$(median "$work/before.$m")
		printf ' %10s %8s' "$b ms" "$(awk -v g="$b" -v d="$d" 'BEGIN{printf "%.2f", g/d}')"
	fi
	echo
done
