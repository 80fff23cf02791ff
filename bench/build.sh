#!/usr/bin/env bash
# Benchmark of image builds, Gantry against Docker, both driven by the docker
# CLI (`make bench-build`). Prints a table; writes nothing into the tree.
#
#   cold     the 3-step build (FROM busybox, RUN echo, CMD) with --no-cache,
#            RUNS times: median
#   cached   the same build fully cached, RUNS times: median
#   step10   a 20-step RUN Dockerfile rebuilt after a change at step 10
#            (steps 10-20 re-run), REPEAT times: median
#   bigctx   W4: a 300 MB, 30,000-file context (FROM, COPY . /ctx, RUN),
#            REPEAT times each: median of a cold build (--no-cache), a
#            fully cached rebuild, a rebuild after `touch` of one file and
#            one after a one-file content edit (on a copy of the context)
#
# Docker's column uses the dockerd at /var/run/docker.sock when it answers
# (its classic builder: the docker CLI here has no buildx), else a dockerd
# ($DOCKERD, default dockerd; DOCKERD= skips it) started here on roots of
# its own in a network namespace of its own, as gantryd then is. The engines take turns per measure, so that neither always pays
# for the other's disk writes.
#
# Environment: RUNS (default 10), REPEAT (default 5); ONLY=bigctx runs W4
# alone; BEFORE=path of another gantryd (an older build) adds it as a third
# engine, "before", in the same run (with the private dockerd only);
# GANTRYD (default
# bin/gantryd) and GANTRYD_EXTRA_ARGS to run another daemon in gantryd's
# place; BENCH_CACHE (default /var/tmp/gantry-bench) keeps the big context
# between runs.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
REPEAT=${REPEAT:-5}
ONLY=${ONLY:-}
DOCKERD=${DOCKERD-dockerd}
BEFORE=${BEFORE:-}
GANTRYD=${GANTRYD:-bin/gantryd}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
unset DOCKER_BUILDKIT
# The base image under a name of its own, so that a shared dockerd's
# busybox:latest is left alone.
IMG=gantry-bench/build-busybox:latest

. bench/lib.sh
bench_init gantry-bench-build docker busybox runc curl
hosts=()
cleanup() {
	# Images this script built, on every engine it used.
	for h in "${hosts[@]}"; do
		if [ -s "$work/ids.$(echo "$h" | md5sum | cut -c1-8)" ]; then
			sort -u "$work/ids.$(echo "$h" | md5sum | cut -c1-8)" | xargs -r env DOCKER_HOST="$h" docker rmi -f >/dev/null 2>&1 || true
		fi
		DOCKER_HOST=$h docker rmi "$IMG" >/dev/null 2>&1 || true
	done
	stop_daemons
	[ -z "${netns:-}" ] || ip netns del "$netns" 2>/dev/null || true
}
trap cleanup EXIT

# big_context DIR: 30,000 files of 10 kB (300 MB) in 30 directories, cached
# in BENCH_CACHE.
big_context() {
	local d=$BENCH_CACHE/context-300m
	if [ ! -f "$d/.complete" ]; then
		log "making a 300 MB, 30,000-file context in $d"
		rm -rf "$d" && mkdir -p "$d"
		for i in $(seq -w 0 29); do
			mkdir "$d/d$i"
			head -c $((1000 * 10240)) /dev/urandom | (cd "$d/d$i" && split -b 10240 -a 3 -d - f)
		done
		touch "$d/.complete"
	fi
	printf '.complete\n' >"$d/.dockerignore"
	printf 'FROM %s\nCOPY . /ctx\nRUN du -sk /ctx\n' "$IMG" >"$d/Dockerfile"
	echo "$d"
}

# build HOST DIR [ARGS...]: one quiet build through the docker CLI; the ID
# goes to the list of images to remove.
build() {
	local h=$1 dir=$2
	shift 2
	DOCKER_HOST=$h docker build -q "$@" "$dir" 2>"$work/build.err" >>"$work/ids.$(echo "$h" | md5sum | cut -c1-8)" ||
		{ cat "$work/build.err" >&2; die "docker build $* $dir against $h failed"; }
}

# timed FILE HOST DIR [ARGS...]: appends the time of one build to FILE.
timed() {
	local f=$1 t
	shift
	t=$(now_ns)
	build "$@"
	ms_since "$t" >>"$f"
}

# Contexts.
mkdir -p "$work/three" "$work/twenty"
printf 'FROM %s\nRUN echo hi\nCMD ["true"]\n' "$IMG" >"$work/three/Dockerfile"
twenty() { # twenty TOKEN: the 20-step Dockerfile, TOKEN in step 10
	{
		echo "FROM $IMG"
		for i in $(seq 2 20); do
			if [ "$i" = 10 ]; then echo "RUN echo step $i $1 > /s$i"; else echo "RUN echo step $i > /s$i"; fi
		done
	} >"$work/twenty/Dockerfile"
}
busybox_tar "$work/busybox.tar"
BIG=$(big_context)
# touch and edit work on a copy, so that the cached context stays as it is.
EDIT=$work/bigedit
cp -a "$BIG" "$EDIT"

# --- Engines ---------------------------------------------------------------
if DOCKER_HOST=unix:///var/run/docker.sock docker version >/dev/null 2>&1 || [ -z "$DOCKERD" ]; then
	start_gantryd
	find_engines
else
	# Both daemons in a network namespace of their own, dockerd on its own
	# roots (the classic builder's RUN steps use its bridge there).
	netns=gantry-bench-build-$$
	ip netns add "$netns"
	mkdir -p "$work/gantry" "$work/docker"
	# shellcheck disable=SC2086
	nsenter --net="/run/netns/$netns" "$GANTRYD" --data-root "$work/gantry/root" --exec-root "$work/gantry/exec" \
		-H "unix://$work/gantry/d.sock" --log-level warn ${GANTRYD_EXTRA_ARGS:-} >"$work/gantry/log" 2>&1 &
	pids+=("$!")
	wait_ping "$work/gantry/d.sock" "$!" || { tail -20 "$work/gantry/log" >&2; die "gantryd did not start"; }
	gantry_pid=$!
	command -v "$DOCKERD" >/dev/null || die "$DOCKERD not found (apt-get install docker.io)"
	nsenter --net="/run/netns/$netns" "$DOCKERD" --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
		-H "unix://$work/docker/d.sock" --pidfile "$work/docker/pid" --iptables=false \
		--log-level warn >"$work/docker/log" 2>&1 &
	pids+=("$!")
	wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	engines=(gantry docker)
	H_gantry=unix://$work/gantry/d.sock
	H_docker=unix://$work/docker/d.sock
	if [ -n "$BEFORE" ]; then
		mkdir -p "$work/before"
		nsenter --net="/run/netns/$netns" "$BEFORE" --data-root "$work/before/root" --exec-root "$work/before/exec" \
			-H "unix://$work/before/d.sock" --log-level warn >"$work/before/log" 2>&1 &
		pids+=("$!")
		wait_ping "$work/before/d.sock" "$!" || { tail -20 "$work/before/log" >&2; die "the BEFORE gantryd did not start"; }
		engines+=(before)
		H_before=unix://$work/before/d.sock
	fi
	docker_note="dockerd $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}') started for the run"
fi
[ "${#engines[@]}" = 1 ] || docker_note="$docker_note classic builder"
for n in "${engines[@]}"; do
	h=$(eval echo "\$H_$n")
	hosts+=("$h")
	DOCKER_HOST=$h docker import "$work/busybox.tar" "$IMG" >/dev/null
done

# each FUNC: runs FUNC ENGINE HOST for every engine, alternating the order
# from call to call.
order=0
each() {
	local list=("${engines[@]}") k=$((order % ${#engines[@]}))
	list=("${list[@]:k}" "${list[@]:0:k}") # each engine first in turn
	order=$((order + 1))
	for n in "${list[@]}"; do "$1" "$n" "$(eval echo "\$H_$n")"; done
}

three_cold() { timed "$work/$1.cold" "$2" "$work/three" --no-cache -t gantry-bench/three:1; }
three_cached() { timed "$work/$1.cached" "$2" "$work/three" -t gantry-bench/three:1; }
twenty_change() {
	twenty "$1-$round"
	timed "$work/$1.step10" "$2" "$work/twenty" -t gantry-bench/twenty:1
}
big_cached() { timed "$work/$1.bigctx" "$2" "$BIG" -t gantry-bench/big:1; }
big_cold() { timed "$work/$1.bigcold" "$2" "$BIG" --no-cache -t gantry-bench/big:1; }
big_touch() {
	build "$2" "$EDIT" -t gantry-bench/bigedit:1 # both engines start from the same state
	touch "$EDIT/d07/f500"
	timed "$work/$1.bigtouch" "$2" "$EDIT" -t gantry-bench/bigedit:1
}
big_edit() {
	build "$2" "$EDIT" -t gantry-bench/bigedit:1
	echo "$1 $round $(now_ns)" >>"$EDIT/d07/f500"
	timed "$work/$1.bigedit" "$2" "$EDIT" -t gantry-bench/bigedit:1
}

if [ "$ONLY" != bigctx ]; then
log "3-step build: warm-up, then $RUNS cold (--no-cache) and $RUNS cached builds per engine"
warm() { build "$2" "$work/three" -t gantry-bench/three:1; }
each warm
for round in $(seq "$RUNS"); do each three_cold; done
for round in $(seq "$RUNS"); do each three_cached; done

log "20-step build: first build, then $REPEAT rebuilds after a change at step 10"
round=0
first20() { twenty "$1-0"; build "$2" "$work/twenty" -t gantry-bench/twenty:1; }
each first20
for round in $(seq "$REPEAT"); do each twenty_change; done
fi

log "300 MB, 30,000-file context: first build, then $REPEAT cold, cached, touch and edit builds"
firstbig() { build "$2" "$BIG" -t gantry-bench/big:1; }
each firstbig
for round in $(seq "$REPEAT"); do each big_cold; done
for round in $(seq "$REPEAT"); do each big_cached; done
for round in $(seq "$REPEAT"); do each big_touch; done
for round in $(seq "$REPEAT"); do each big_edit; done

# --- Report ----------------------------------------------------------------
row() { # row LABEL MEASURE
	local g d ratio b=() bd
	g=$(median "$work/gantry.$2")
	if [ -f "$work/before.$2" ]; then
		bd=$(median "$work/before.$2")
		b=("$bd ms" "$(awk -v g="$bd" -v d="$(median "$work/docker.$2")" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')")
	fi
	if [ -f "$work/docker.$2" ]; then
		d=$(median "$work/docker.$2")
		ratio=$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')
		printf '%-62s %10s %10s %8s %10s %8s\n' "$1" "$g ms" "$d ms" "$ratio" "${b[@]}"
	else
		printf '%-62s %10s %10s %8s\n' "$1" "$g ms" "-" "-"
	fi
}
echo
echo "Gantry vs Docker builds, through the docker CLI ($(nproc) cores; Docker: $docker_note${BEFORE:+; before: $BEFORE})"
if [ -n "$BEFORE" ]; then
	printf '%-62s %10s %10s %8s %10s %8s\n' "measure" "gantry" "docker" "g/d" "before" "b/d"
else
	printf '%-62s %10s %10s %8s\n' "measure" "gantry" "docker" "g/d"
fi
if [ "$ONLY" != bigctx ]; then
	row "3-step build, --no-cache, median of $RUNS" cold
	row "3-step build, fully cached, median of $RUNS" cached
	row "20-step RUN build, change at step 10, median of $REPEAT" step10
fi
row "W4 300 MB / 30,000 files: cold (--no-cache), median of $REPEAT" bigcold
row "W4 fully cached rebuild, median of $REPEAT" bigctx
row "W4 after touch of one file, median of $REPEAT" bigtouch
row "W4 after a one-file content edit, median of $REPEAT" bigedit
