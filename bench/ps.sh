#!/usr/bin/env bash
# Benchmark of reads under lifecycle load (`make bench-ps`): the latency of
# `docker ps -a` while N (default 20) containers start and stop in a loop
# (LOADERS parallel loops of `docker start` then `docker stop -t 0`), on
# this tree's gantryd, BASE's (a git revision, default main, built in a
# temporary directory) and a private dockerd 20.10, one after the other.
# Two measures: GET /containers/json?all=1 through curl (the daemon's time,
# SAMPLES of them) and the docker CLI's `docker ps -a` (CLI_SAMPLES), each
# with the number of starts and stops the loaders made meanwhile, and
# gantryd's own time for each list (from its debug log: the client's time
# adds the scheduling of a shared machine). Prints a table; writes nothing
# into the tree.
#
# Every daemon runs in a network namespace of its own, containers with
# --network none. Environment: N, LOADERS (default 4), SAMPLES (default
# 300), CLI_SAMPLES (default 100), BASE, GANTRYD (default bin/gantryd).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-20}
LOADERS=${LOADERS:-4}
SAMPLES=${SAMPLES:-300}
CLI_SAMPLES=${CLI_SAMPLES:-100}
BASE=${BASE:-main}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench-ps docker busybox runc curl ip nsenter
netns=()
hosts=()
cleanup() {
	local h
	[ -f "$work/go" ] && rm -f "$work/go"
	for h in "${hosts[@]:-}"; do
		[ -n "$h" ] || continue
		DOCKER_HOST=$h docker rm -f $(DOCKER_HOST=$h docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	done
	stop_daemons
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

p99() { sort -n "$1" | awk '{a[NR]=$1} END{i=int(NR*0.99+0.999); if(i<1)i=1; print a[i]}'; }
maxof() { sort -n "$1" | tail -1; }

new_ns() { # new_ns NAME: a network namespace with lo up
	ip netns add "$1"
	netns+=("$1")
	nsenter --net=/run/netns/"$1" ip link set lo up
}

# start_engine NAME KIND BIN: a gantryd or dockerd in a namespace of its
# own, roots under $work/NAME; sets $sock and $dpid.
start_engine() {
	local name=$1 kind=$2 bin=$3 ns="gps$$$1"
	new_ns "$ns"
	mkdir -p "$work/$name"
	sock=$work/$name/d.sock
	if [ "$kind" = gantryd ]; then
		# debug: each request's time in gantryd, as its log says
		nsenter --net=/run/netns/"$ns" "$bin" --data-root "$work/$name/root" --exec-root "$work/$name/x" \
			-H "unix://$sock" --log-level debug >>"$work/$name/log" 2>&1 &
	else
		nsenter --net=/run/netns/"$ns" dockerd --data-root "$work/$name/root" --exec-root "$work/$name/x" \
			--pidfile "$work/$name/pid" -H "unix://$sock" --bridge none --iptables=false --ip-masq=false \
			--log-level warn --containerd-namespace "gps$$" --containerd-plugins-namespace "gps$$p" >>"$work/$name/log" 2>&1 &
	fi
	dpid=$!
	pids+=("$dpid")
	wait_ping "$sock" "$dpid" || { tail -20 "$work/$name/log" >&2; die "$name did not start"; }
	hosts+=("unix://$sock")
}

# loader HOST FIRST LAST: start and stop containers FIRST..LAST until $work/go goes.
loader() {
	local i
	while [ -f "$work/go" ]; do
		for i in $(seq "$2" "$3"); do DOCKER_HOST=$1 docker start "c$i" >/dev/null 2>&1 || true; done
		for i in $(seq "$2" "$3"); do
			DOCKER_HOST=$1 docker stop -t 0 "c$i" >/dev/null 2>&1 && echo >>"$work/cycles"
		done
	done
}

# measure NAME: the whole run on the engine at $sock.
measure() {
	local name=$1 h=unix://$sock i per lp=() t0
	DOCKER_HOST=$h docker import "$work/busybox.tar" "$IMG" >/dev/null
	for i in $(seq "$N"); do DOCKER_HOST=$h docker create --name "c$i" --network none "$IMG" sleep 100000 >/dev/null; done
	# Idle first: the floor.
	for i in $(seq 50); do
		curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" 'http://d/containers/json?all=1' >>"$work/$name.idle"
	done
	: >"$work/cycles"
	touch "$work/go"
	per=$((N / LOADERS))
	for i in $(seq 0 $((LOADERS - 1))); do
		loader "$h" $((i * per + 1)) $((i == LOADERS - 1 ? N : (i + 1) * per)) &
		lp+=($!)
	done
	sleep 2
	t0=$(now_ns)
	for i in $(seq "$SAMPLES"); do
		curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" 'http://d/containers/json?all=1' >>"$work/$name.api"
		sleep 0.02
	done
	for i in $(seq "$CLI_SAMPLES"); do
		s=$(now_ns)
		DOCKER_HOST=$h docker ps -a >/dev/null
		ms_since "$s" >>"$work/$name.cli"
	done
	printf -v "SECS_$name" '%s' "$(( ($(now_ns) - t0) / 1000000000 ))"
	rm -f "$work/go"
	wait "${lp[@]}"
	printf -v "CYCLES_$name" '%s' "$(wc -l <"$work/cycles")"
	# gantryd's own time for each list (its debug log), in ms
	grep -o 'method=GET path=[^ ]*/containers/json status=200 duration=[^ ]*' "$work/$name/log" 2>/dev/null |
		sed 's/.*duration=//' | awk '/µs$/{sub(/µs/,"");printf "%.3f\n",$1/1000;next} /ms$/{sub(/ms/,"");printf "%.3f\n",$1;next} /s$/{sub(/s/,"");printf "%.3f\n",$1*1000;next}' >"$work/$name.server.ms" || true
	# seconds -> ms
	for f in idle api; do
		awk '{printf "%.2f\n", $1 * 1000}' "$work/$name.$f" >"$work/$name.$f.ms"
	done
	DOCKER_HOST=$h docker rm -f $(DOCKER_HOST=$h docker ps -aq) >/dev/null
}

log "building $BASE's gantryd"
git archive "$BASE" | (mkdir -p "$work/base-src" && tar -x -C "$work/base-src")
(cd "$work/base-src" && go build -o bin/gantryd ./cmd/gantryd && { [ ! -d cmd/gantry-monitor ] || go build -o bin/gantry-monitor ./cmd/gantry-monitor; })
busybox_tar "$work/busybox.tar"

engines=(new base)
start_engine new gantryd "$GANTRYD"
log "this tree's gantryd: $N containers cycled by $LOADERS loaders"
measure new
start_engine base gantryd "$work/base-src/bin/gantryd"
log "$BASE's gantryd"
measure base
docker_note="skipped: no dockerd"
if command -v dockerd >/dev/null; then
	start_engine docker dockerd dockerd
	docker_note=$(DOCKER_HOST=unix://$sock docker version -f '{{.Server.Version}}')
	log "dockerd $docker_note"
	measure docker
	engines+=(docker)
fi

printf '\ndocker ps -a while %s containers start and stop (%s loops of start, stop -t 0)\n' "$N" "$LOADERS"
printf '%-34s' ""
for e in "${engines[@]}"; do
	case $e in new) l="this tree" ;; base) l=$BASE ;; docker) l="dockerd $docker_note" ;; esac
	printf ' %16s' "$l"
done
echo
row() { # row LABEL FILE-SUFFIX FUNC UNIT
	printf '%-34s' "$1"
	for e in "${engines[@]}"; do printf ' %13s %s' "$($3 "$work/$e.$2")" "$4"; done
	echo
}
row "API, idle: median" idle.ms median ms
row "API, under load: median" api.ms median ms
row "API, under load: p99" api.ms p99 ms
row "API, under load: max" api.ms maxof ms
for e in "${engines[@]}"; do [ -s "$work/$e.server.ms" ] || echo "-" >"$work/$e.server.ms"; done
row "  in gantryd (its log): p99" server.ms p99 ms
row "  in gantryd (its log): max" server.ms maxof ms
row "docker ps -a (CLI): median" cli median ms
row "docker ps -a (CLI): p99" cli p99 ms
printf '%-34s' "starts+stops meanwhile"
for e in "${engines[@]}"; do c=CYCLES_$e s=SECS_$e; printf ' %10s in %ss' "${!c}" "${!s}"; done
echo
