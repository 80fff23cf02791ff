#!/usr/bin/env bash
# Benchmark of gantry build's incremental context sync (`make
# bench-ctxsync`): W4, a 300 MB, 30,000-file context (FROM, COPY . /ctx,
# RUN du), built through
#
#   gantry    bin/gantry build against gantryd (POST /build/sync: gantryd
#             keeps a copy of the context and asks for what changed)
#   bk        docker buildx build against gantryd's embedded BuildKit
#             (BuildKit's own file sync of the context)
#   docker    docker buildx build against a dockerd 20.10 started here on
#             roots of its own, in a network namespace of its own
#             (DOCKERD= skips it)
#   classic   the docker CLI with DOCKER_BUILDKIT=0 against gantryd (the
#             whole context as a tar every time)
#
# Measures, REPEAT times each (median): cold (--no-cache, the engine's copy
# of the context already there, as BuildKit's), fully cached, after a
# `touch` of one file, after a one-file content edit; and, once, the first
# build of all (no copy yet). The engines take turns per measure. Prints a
# table with gantry's ratio to each; writes nothing into the tree.
#
# Environment: REPEAT (default 5), GANTRYD (default bin/gantryd), GANTRY
# (default bin/gantry), DOCKERD (default dockerd), BENCH_CACHE (default
# /var/tmp/gantry-bench) keeps the big context between runs.
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
GANTRY=${GANTRY:-bin/gantry}
DOCKERD=${DOCKERD-dockerd}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
unset DOCKER_BUILDKIT
IMG=gantry-bench/build-busybox:latest

. bench/lib.sh
bench_init gantry-bench-ctxsync docker busybox runc curl ip nsenter
[ -x "$GANTRY" ] || die "$GANTRY not found: run make build first"
buildx=$(scripts/buildx.sh)
export DOCKER_CONFIG=$work/cfg
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
ns=gcs$$
cleanup() {
	stop_daemons
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

# --- Engines ---------------------------------------------------------------
start_gantryd
H_gantry=$gantry_host H_bk=$gantry_host H_classic=$gantry_host
engines=(gantry bk classic)
docker_note="skipped (DOCKERD=)"
if [ -n "$DOCKERD" ]; then
	command -v "$DOCKERD" >/dev/null || die "$DOCKERD not found (apt-get install docker.io)"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	mkdir -p "$work/docker"
	nsenter --net="/run/netns/$ns" -- "$DOCKERD" --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
		--pidfile "$work/docker/pid" -H "unix://$work/docker/d.sock" \
		--log-level warn >"$work/docker/log" 2>&1 &
	pids+=($!)
	wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	H_docker=unix://$work/docker/d.sock
	engines+=(docker)
	docker_note="dockerd $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}') with BuildKit (buildx)"
fi
busybox_tar "$work/busybox.tar"
for h in "$gantry_host" ${H_docker:+"$H_docker"}; do DOCKER_HOST=$h docker import "$work/busybox.tar" "$IMG" >/dev/null; done

# --- Context ---------------------------------------------------------------
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
# A copy with the Dockerfile inside (gantry build syncs a context that
# holds its Dockerfile), edited by the touch and edit measures.
CTX=$work/big
cp -a "$BIG" "$CTX"
printf '.complete\n' >"$CTX/.dockerignore"
printf 'FROM %s\nCOPY . /ctx\nRUN du -sk /ctx\n' "$IMG" >"$CTX/Dockerfile"

# build ENGINE [ARGS...]: one quiet build of $CTX.
build() {
	local n=$1 h
	shift
	h=$(eval echo "\$H_$n")
	case $n in
	gantry) "$GANTRY" -H "$h" build -q "$@" "$CTX" ;;
	classic) DOCKER_HOST=$h DOCKER_BUILDKIT=0 docker build -q "$@" "$CTX" ;;
	*) DOCKER_HOST=$h docker buildx build -q "$@" "$CTX" ;;
	esac >/dev/null 2>"$work/build.err" || { cat "$work/build.err" >&2; die "build $* on $n failed"; }
}
timed() { # timed FILE ENGINE [ARGS...]
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

log "W4 through ${engines[*]}: first build, then $REPEAT cold, cached, touch and edit builds"
first() { timed "$work/$1.first" "$1" -t "gantry-bench/ctx-$1:1"; }
each first
cold() { timed "$work/$1.cold" "$1" --no-cache -t "gantry-bench/ctx-$1:1"; }
cached() { timed "$work/$1.cached" "$1" -t "gantry-bench/ctx-$1:1"; }
touched() {
	build "$1" -t "gantry-bench/ctx-$1:1" # every engine starts from the same state
	touch "$CTX/d07/f500"
	timed "$work/$1.touch" "$1" -t "gantry-bench/ctx-$1:1"
}
edited() {
	build "$1" -t "gantry-bench/ctx-$1:1"
	echo "$1 $(now_ns)" >>"$CTX/d07/f500"
	timed "$work/$1.edit" "$1" -t "gantry-bench/ctx-$1:1"
}
for _ in $(seq "$REPEAT"); do each cold; done
for _ in $(seq "$REPEAT"); do each cached; done
for _ in $(seq "$REPEAT"); do each touched; done
for _ in $(seq "$REPEAT"); do each edited; done

# --- Report ----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
row() { # row LABEL MEASURE
	local g b c d=-
	g=$(median "$work/gantry.$2") b=$(median "$work/bk.$2") c=$(median "$work/classic.$2")
	[ -f "$work/docker.$2" ] && d=$(median "$work/docker.$2")
	printf '%-34s %8s %8s %8s %8s %10s %10s %10s\n' "$1" "$g ms" "$b ms" "$d ms" "$c ms" \
		"$(ratio "$g" "$b")" "$(ratio "$g" "$d")" "$(ratio "$g" "$c")"
}
echo
echo "W4, 300 MB / 30,000-file context, COPY . /ctx ($(nproc) cores): bin/gantry build (gantry), buildx $("$buildx" version | awk '{print $2}') on gantryd's BuildKit (bk), $docker_note (docker), docker CLI DOCKER_BUILDKIT=0 on gantryd (classic)"
printf '%-34s %8s %8s %8s %8s %10s %10s %10s\n' measure gantry bk docker classic gantry/bk gantry/dkr gantry/cls
row "first build (no copy yet), once" first
row "cold (--no-cache), median of $REPEAT" cold
row "fully cached, median of $REPEAT" cached
row "after a touch, median of $REPEAT" touch
row "after a one-file edit, median of $REPEAT" edit
