#!/usr/bin/env bash
# Benchmark of Gantry against Docker, both driven by the docker CLI
# (`make bench`). Prints a table; writes nothing into the tree.
#
#   run      `docker run --rm busybox true`, RUNS times: median and p90
#   rss      the daemon's resident memory after those runs (gantryd; for
#            Docker dockerd + containerd)
#   commit   `docker commit` of a container that wrote 200 MB in 2,000 files
#   import   `docker import` of a ~170 MB rootfs tar (Debian minbase made by
#            mmdebstrap when a mirror answers, else files from /usr)
#   (commit and import: a warm-up round, then REPEAT rounds with the engines
#   taking turns, medians)
#
# Docker's column uses the dockerd at /var/run/docker.sock when it answers,
# else a private dockerd when one is installed, else it is skipped.
#
# Environment: RUNS (default 20), REPEAT (default 4); GANTRYD (default bin/gantryd) and
# GANTRYD_EXTRA_ARGS (and GANTRY_RUN_ARGS for docker run) to run another
# daemon in gantryd's place, which is how the script was checked; BENCH_CACHE
# (default /var/tmp/gantry-bench) keeps the big rootfs tar between runs.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
GANTRYD=${GANTRYD:-bin/gantryd}
export BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
# The busybox image under a name of its own, so that a shared dockerd's
# busybox:latest is left alone.
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench docker busybox runc curl
trap stop_daemons EXIT

# big_tar FILE: a ~170 MB rootfs tar: Debian minbase from
# scripts/debian-base.sh (cached), else files from /usr when mmdebstrap or
# the mirror is missing.
big_tar() {
	local debian
	if debian=$(scripts/debian-base.sh 2>"$work/debian-base.log"); then
		ln -sf "$debian" "$1"
		return
	fi
	log "no Debian minbase ($(tail -1 "$work/debian-base.log")): using 170 MB of files from /usr"
	(cd / && find usr -xdev -type f -size -20M -printf '%s\t%p\0' >"$work/usr.list" 2>/dev/null || true)
	awk -v RS='\0' -v ORS='\0' -F'\t' 'BEGIN{limit=170*1024*1024} {if (t+$1 > limit) exit; t+=$1; print $2}' \
		"$work/usr.list" >"$work/usr.sel"
	tar -C / --null -T "$work/usr.sel" -cf "$1"
}


rss_mb() { # rss_mb PID... : summed VmRSS in MB
	local kb=0 pid v
	for pid in "$@"; do
		v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		kb=$((kb + ${v:-0}))
	done
	awk -v kb="$kb" 'BEGIN{printf "%.1f", kb/1024}'
}

# The measures below run against $DOCKER_HOST; NETWORK_ARGS go to docker run.

# measure_runs NAME NETWORK_ARGS: RUNS x `docker run --rm` into R_<NAME>_median/_p90.
measure_runs() {
	local n=$1 netargs=$2 t
	local times=$work/$n.times
	log "$n: import busybox as $IMG"
	docker import "$work/busybox.tar" "$IMG" >/dev/null
	docker run --rm $netargs "$IMG" true # warm-up, not counted
	: >"$times"
	log "$n: $RUNS x docker run --rm busybox true"
	for _ in $(seq "$RUNS"); do
		t=$(now_ns)
		docker run --rm $netargs "$IMG" true
		ms_since "$t" >>"$times"
	done
	eval "R_${n}_median=$(median "$times") R_${n}_p90=$(p90 "$times")"
}

# measure_commit NAME NETWORK_ARGS: appends the time of one commit of a
# container that wrote 200 MB in 2000 files to $work/NAME.commit.
measure_commit() {
	local n=$1 netargs=$2 t ctr=bench-commit-$$
	docker run --name "$ctr" $netargs "$IMG" sh -c \
		'mkdir /data && i=0 && while [ $i -lt 2000 ]; do head -c 104857 /dev/urandom >/data/f$i; i=$((i+1)); done'
	sync
	t=$(now_ns)
	docker commit "$ctr" bench/commit:1 >/dev/null
	t=$(ms_since "$t")
	log "$n: commit $t ms"
	echo "$t" >>"$work/$n.commit"
	docker rm "$ctr" >/dev/null
	docker rmi bench/commit:1 >/dev/null
}

# measure_import NAME: appends the time of one import of the big rootfs tar
# to $work/NAME.import.
measure_import() {
	local n=$1 t
	sync
	t=$(now_ns)
	docker import "$work/big.tar" bench/big:1 >/dev/null
	t=$(ms_since "$t")
	log "$n: import $t ms"
	echo "$t" >>"$work/$n.import"
	docker rmi bench/big:1 >/dev/null
}

busybox_tar "$work/busybox.tar"
big_tar "$work/big.tar"

# --- Gantry --------------------------------------------------------------
start_gantryd
gpid=$gantry_pid
GANTRY_HOST=$gantry_host
export DOCKER_HOST=$GANTRY_HOST
measure_runs gantry "${GANTRY_RUN_ARGS:-}"
sleep 1 # idle
R_gantry_rss=$(rss_mb "$gpid")

# --- Docker --------------------------------------------------------------
docker_note=""
dpids=()
if DOCKER_HOST=unix:///var/run/docker.sock docker version >/dev/null 2>&1; then
	export DOCKER_HOST=unix:///var/run/docker.sock
	dpids=($(cat /var/run/docker.pid 2>/dev/null || pgrep -o -x dockerd))
	dpids+=($(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || pgrep -o -x containerd || true))
	docker_note="the running dockerd at /var/run/docker.sock"
	dnet=""
elif command -v dockerd >/dev/null; then
	mkdir -p "$work/docker"
	dockerd --data-root "$work/docker/root" --exec-root "$work/docker/x" --pidfile "$work/docker/pid" \
		-H "unix://$work/docker/d.sock" --bridge none --iptables=false --log-level warn >"$work/docker/log" 2>&1 &
	pids+=($!)
	wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	export DOCKER_HOST=unix://$work/docker/d.sock
	dpids=("$!" $(pgrep -f "containerd --config $work/docker/x" || true))
	docker_note="a private dockerd (--bridge none, so runs use --network none)"
	dnet="--network none"
fi
DOCKER_ENGINE_HOST=$DOCKER_HOST
if [ -n "$docker_note" ]; then
	measure_runs docker "$dnet"
	sleep 1
	R_docker_rss=$(rss_mb "${dpids[@]}")
else
	log "no Docker engine running or installed: Docker's column is skipped"
fi

# Commit and import write hundreds of MB to a shared, noisy disk: the two
# engines take turns, REPEAT times each, and the medians are compared.
REPEAT=${REPEAT:-4}
# The disk here slows down as it absorbs writes and deletes, so whoever goes
# second pays for the first: the order alternates from round to round.
round_gantry() {
	DOCKER_HOST=$GANTRY_HOST measure_commit gantry "${GANTRY_RUN_ARGS:-}"
	DOCKER_HOST=$GANTRY_HOST measure_import gantry
}
round_docker() {
	[ -n "$docker_note" ] || return 0
	DOCKER_HOST=$DOCKER_ENGINE_HOST measure_commit docker "$dnet"
	DOCKER_HOST=$DOCKER_ENGINE_HOST measure_import docker
}
# A warm-up round, not counted: Docker's data root has been in use for a
# while, gantryd's is brand new, and on this ext4 disk creating files in
# block groups whose inode tables are not cached costs a disk read per file.
log "warm-up round (not counted)"
round_gantry
round_docker
rm -f "$work"/*.commit "$work"/*.import
for i in $(seq "$REPEAT"); do
	log "round $i/$REPEAT: commit of 200 MB in 2000 files, import of $(du -Lh "$work/big.tar" | cut -f1) rootfs"
	if [ $((i % 2)) = 1 ]; then
		round_gantry
		round_docker
	else
		round_docker
		round_gantry
	fi
done
R_gantry_commit=$(median "$work/gantry.commit")
R_gantry_import=$(median "$work/gantry.import")
if [ -n "$docker_note" ]; then
	R_docker_commit=$(median "$work/docker.commit")
	R_docker_import=$(median "$work/docker.import")
	DOCKER_HOST=$DOCKER_ENGINE_HOST docker rmi "$IMG" >/dev/null
fi
DOCKER_HOST=$GANTRY_HOST docker rmi "$IMG" >/dev/null

# --- Report --------------------------------------------------------------
row() { # row LABEL UNIT NAME
	local g d ratio
	g=$(eval echo "\${R_gantry_$3}")
	d=$(eval echo "\${R_docker_$3:-}")
	if [ -n "$d" ]; then
		ratio=$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')
		printf '%-44s %12s %12s %10s\n' "$1" "$g $2" "$d $2" "$ratio"
	else
		printf '%-44s %12s %12s %10s\n' "$1" "$g $2" "-" "-"
	fi
}
echo
echo "Gantry vs Docker, through the docker CLI ($(nproc) cores; Docker: ${docker_note:-skipped})"
printf '%-44s %12s %12s %10s\n' "measure" "gantry" "docker" "g/d"
row "docker run --rm busybox true, median of $RUNS" ms median
row "docker run --rm busybox true, p90" ms p90
row "daemon idle RSS after the runs" MB rss
row "docker commit, 200 MB in 2,000 files, median of $REPEAT" ms commit
row "docker import, $(du -Lm "$work/big.tar" | cut -f1) MB rootfs tar, median of $REPEAT" ms import
