#!/usr/bin/env bash
# Benchmark of BuildKit builds through the buildx plugin (v0.38.2, its
# default docker driver; scripts/buildx.sh builds it): gantryd against a
# dockerd 20.10 started here (its own roots, in a network namespace of its
# own; it embeds BuildKit too), and Gantry's classic builder
# (DOCKER_BUILDKIT=0) beside them. The workloads are bench/build.sh's:
#
#   W1 cold     the 3-step build (FROM busybox, RUN echo, CMD) with
#               --no-cache, RUNS times: median
#   W2 cached   the same build fully cached, RUNS times: median
#   W3 step10   a 20-step RUN Dockerfile rebuilt after a change at step 10
#               (steps 10-20 re-run), REPEAT times: median
#   W4 bigctx   a fully cached rebuild (FROM, COPY . /ctx, RUN) with a
#               300 MB, 30,000-file context, REPEAT times: median
#   W5 fromfat  a first build (BuildKit's cache pruned) FROM a local image
#               with a 256 MB layer, REPEAT times: median time and growth
#               of the data root (the second copy BuildKit would make)
#
# and gantryd's RSS idle before the first build, after its first BuildKit
# build and after them all (with gantry-buildkitd's beside it). Every build ends with the image loaded in
# the engine's image store (-t, the docker driver's default). The engines
# take turns per measure. Writes nothing into the tree.
#
# Environment: RUNS (default 10), REPEAT (default 5), GANTRYD (default
# bin/gantryd), DOCKERD (default dockerd), BENCH_CACHE (default
# /var/tmp/gantry-bench) keeps the big context between runs.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
DOCKERD=${DOCKERD:-dockerd}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
unset DOCKER_BUILDKIT
IMG=gantry-bench/build-busybox:latest

. bench/lib.sh
bench_init gantry-bench-buildx docker busybox runc curl "$DOCKERD" ip nsenter
buildx=$(scripts/buildx.sh)
export DOCKER_CONFIG=$work/cfg
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
ns=gbx$$
cleanup() {
	stop_daemons
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

# --- Engines ---------------------------------------------------------------
start_gantryd
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$work/docker"
nsenter --net="/run/netns/$ns" -- "$DOCKERD" --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
	--pidfile "$work/docker/pid" -H "unix://$work/docker/d.sock" --log-level warn >"$work/docker/log" 2>&1 &
pids+=($!)
wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
H_bk=$gantry_host H_classic=$gantry_host H_docker=unix://$work/docker/d.sock
engines=(bk classic docker)
docker_version=$(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}')

busybox_tar "$work/busybox.tar"
for h in "$H_bk" "$H_docker"; do DOCKER_HOST=$h docker import "$work/busybox.tar" "$IMG" >/dev/null; done
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
sleep 2
rss_idle=$(rss "$gantry_pid")

# build ENGINE DIR [ARGS...]: one quiet build through the docker CLI.
build() {
	local n=$1 dir=$2 h
	shift 2
	h=$(eval echo "\$H_$n")
	if [ "$n" = classic ]; then
		DOCKER_HOST=$h DOCKER_BUILDKIT=0 docker build -q "$@" "$dir" >/dev/null 2>"$work/build.err"
	else
		DOCKER_HOST=$h docker buildx build -q "$@" "$dir" >/dev/null 2>"$work/build.err"
	fi || { cat "$work/build.err" >&2; die "build $* $dir on $n failed"; }
}
timed() { # timed FILE ENGINE DIR [ARGS...]
	local f=$1 t
	shift
	t=$(now_ns)
	build "$@"
	ms_since "$t" >>"$f"
}
order=0
each() { # each FUNC: FUNC ENGINE for every engine, rotating the order
	local i n=${#engines[@]}
	for i in $(seq 0 $((n - 1))); do "$1" "${engines[$(((i + order) % n))]}"; done
	order=$((order + 1))
}

BIG=$BENCH_CACHE/context-300m
if [ ! -f "$BIG/.complete" ]; then
	log "making a 300 MB, 30,000-file context in $BIG"
	rm -rf "$BIG" && mkdir -p "$BIG"
	for i in $(seq -w 0 29); do
		mkdir "$BIG/d$i"
		head -c $((1000 * 10240)) /dev/urandom | (cd "$BIG/d$i" && split -b 10240 -a 3 -d - f)
	done
	touch "$BIG/.complete"
fi
mkdir -p "$work/big"
printf '.complete\n' >"$work/big/.dockerignore"
printf 'FROM %s\nCOPY . /ctx\nRUN du -sk /ctx\n' "$IMG" >"$work/big/Dockerfile"
mkdir -p "$work/three" "$work/twenty"
printf 'FROM %s\nRUN echo hi\nCMD ["true"]\n' "$IMG" >"$work/three/Dockerfile"
twenty() {
	{
		echo "FROM $IMG"
		for i in $(seq 2 20); do
			if [ "$i" = 10 ]; then echo "RUN echo step $i $1 > /s$i"; else echo "RUN echo step $i > /s$i"; fi
		done
	} >"$work/twenty/Dockerfile"
}

log "W1/W2: 3-step build: warm-up, then $RUNS cold (--no-cache) and $RUNS cached builds per engine"
warm() { build "$1" "$work/three" -t gantry-bench/three:1; }
# gantryd's first BuildKit build, alone, for its RSS after it.
warm bk
sleep 2
rss_first=$(rss "$gantry_pid")
each warm
cold() { timed "$work/$1.cold" "$1" "$work/three" --no-cache -t gantry-bench/three:1; }
cached() { timed "$work/$1.cached" "$1" "$work/three" -t gantry-bench/three:1; }
for _ in $(seq "$RUNS"); do each cold; done
for _ in $(seq "$RUNS"); do each cached; done

log "W3: 20-step build: first build, then $REPEAT rebuilds after a change at step 10"
round=0
first20() { twenty "$1-0"; build "$1" "$work/twenty" -t gantry-bench/twenty:1; }
each first20
change() { twenty "$1-$round"; timed "$work/$1.step10" "$1" "$work/twenty" -t gantry-bench/twenty:1; }
for round in $(seq "$REPEAT"); do each change; done

log "W4: 300 MB context: first build, then $REPEAT fully cached rebuilds"
# The context is the cached directory, the Dockerfile beside it.
firstbig() { build "$1" "$BIG" -f "$work/big/Dockerfile" -t gantry-bench/big:1; }
cp "$work/big/.dockerignore" "$BIG/.dockerignore"
each firstbig
bigc() { timed "$work/$1.bigctx" "$1" "$BIG" -f "$work/big/Dockerfile" -t gantry-bench/big:1; }
for _ in $(seq "$REPEAT"); do each bigc; done

log "W5: FROM a local image with a 256 MB layer: $REPEAT first builds (BuildKit's cache pruned before each)"
# The image is built classically on each engine; BuildKit then meets its
# layers for the first time each round. Disk: growth of the data root
# (du, hard links once) over the build.
mkdir -p "$work/fat" "$work/fromfat"
head -c $((256 << 20)) /dev/urandom >"$work/fat/fat"
printf 'FROM %s\nCOPY fat /fat\n' "$IMG" >"$work/fat/Dockerfile"
build classic "$work/fat" -t gantry-bench/fat:1
H_classic=$H_docker build classic "$work/fat" -t gantry-bench/fat:1
H_classic=$gantry_host
root_of() { if [ "$1" = docker ]; then echo "$work/docker/root"; else echo "$work/gantry/root"; fi; }
fromfat() {
	local n=$1 before
	[ "$n" = classic ] && return
	DOCKER_HOST=$(eval echo "\$H_$n") docker buildx prune -af >/dev/null
	printf 'FROM gantry-bench/fat:1\nRUN echo %s > /round\n' "$round" >"$work/fromfat/Dockerfile"
	before=$(du -sk "$(root_of "$n")" | cut -f1)
	timed "$work/$n.fromfat" "$n" "$work/fromfat" -t gantry-bench/fromfat:1
	echo $(($(du -sk "$(root_of "$n")" | cut -f1) - before)) >>"$work/$n.fromfat.kb"
}
for round in $(seq "$REPEAT"); do each fromfat; done

sleep 2
rss_after=$(rss "$gantry_pid")
helper=$(pgrep -f "gantry-buildkitd --root $work/gantry/root" || true)
rss_helper=$([ -n "$helper" ] && rss "$helper" || echo -)

# --- Report ----------------------------------------------------------------
row() { # row LABEL MEASURE
	local b c d
	b=$(median "$work/bk.$2") c=$(median "$work/classic.$2") d=$(median "$work/docker.$2")
	printf '%-50s %9s %9s %9s %8s %8s\n' "$1" "$b ms" "$d ms" "$c ms" \
		"$(awk -v a="$b" -v b="$d" 'BEGIN{printf "%.2f", a/b}')" "$(awk -v a="$b" -v b="$c" 'BEGIN{printf "%.2f", a/b}')"
}
echo
echo "BuildKit builds through buildx $("$buildx" version | awk '{print $2}') ($(nproc) cores): gantryd (bk), dockerd $docker_version (docker), gantryd's classic builder (classic)"
printf '%-50s %9s %9s %9s %8s %8s\n' measure bk docker classic bk/docker bk/classic
row "W1 3-step build, --no-cache, median of $RUNS" cold
row "W2 3-step build, fully cached, median of $RUNS" cached
row "W3 20-step build, change at step 10, median of $REPEAT" step10
row "W4 cached rebuild, 300 MB context, median of $REPEAT" bigctx
b=$(median "$work/bk.fromfat") d=$(median "$work/docker.fromfat")
printf '%-50s %9s %9s %9s %8s\n' "W5 first build FROM a 256 MB local image, median of $REPEAT" "$b ms" "$d ms" - \
	"$(awk -v a="$b" -v b="$d" 'BEGIN{printf "%.2f", a/b}')"
echo "W5 data root growth per build, median: gantryd $(($(median "$work/bk.fromfat.kb") / 1024)) MiB, dockerd $(($(median "$work/docker.fromfat.kb") / 1024)) MiB"
echo
echo "gantryd RSS: idle before the first build $((rss_idle / 1024)) MiB, after its first BuildKit build $((rss_first / 1024)) MiB, after all the builds (classic ones too) $((rss_after / 1024)) MiB; gantry-buildkitd then: $([ "$rss_helper" = - ] && echo - || echo $((rss_helper / 1024))) MiB"
