#!/usr/bin/env bash
# Scale benchmark (`make bench-scale`; slow: not in make test): gantryd's
# threads, descriptors and memory as running containers grow to N (default
# 1,000) `sleep` containers with --network none, started BATCH (default 8)
# at a time, and what their monitors cost in all (PSS, from
# /proc/PID/smaps_rollup). With DOCKERD=1 a private dockerd 20.10 in a
# network namespace of its own runs the same, for its threads, descriptors,
# RSS and its containerd-shim-runc-v2 PSS. Prints a table with a row per
# checkpoint (STEPS, default "0 100 250 500 1000", capped at N); writes
# nothing into the tree.
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-1000}
BATCH=${BATCH:-8}
STEPS=${STEPS:-"0 100 250 500 1000"}
DOCKERD=${DOCKERD:-0}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench-scale docker busybox runc curl ip nsenter
netns=()
hosts=()
cleanup() {
	local h
	for h in "${hosts[@]:-}"; do
		[ -n "$h" ] || continue
		# shellcheck disable=SC2046
		# Bounded: dockerd 20.10 once stalled for good in rm -f with 1,000
		# containers.
		DOCKER_HOST=$h timeout 60 docker ps -aq 2>/dev/null | timeout 300 xargs -r -n 50 sh -c 'DOCKER_HOST='"$h"' docker rm -f "$@" >/dev/null 2>&1' _ || true
	done
	stop_daemons
	# What a stalled dockerd left: its shims and their containers.
	local shim
	for shim in $(pgrep -f "containerd-shim-runc-v2 -namespace gsc$$ " || true); do
		pkill -KILL -P "$shim" || true
		kill -KILL "$shim" 2>/dev/null || true
	done
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

kb() { awk -v k="$2" '$1==k":"{print $2}' "/proc/$1/status"; }
pss_kb() { # pss_kb PID...: summed Pss in kB
	local kb=0 pid v
	for pid in "$@"; do
		v=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		kb=$((kb + ${v:-0}))
	done
	echo "$kb"
}

# start_engine NAME KIND: gantryd or dockerd in a network namespace of
# its own; sets $sock and $dpid.
start_engine() {
	local name=$1 kind=$2 ns="gsc$$$1"
	ip netns add "$ns"
	netns+=("$ns")
	nsenter --net=/run/netns/"$ns" ip link set lo up
	mkdir -p "$work/$name"
	sock=$work/$name/d.sock
	if [ "$kind" = gantryd ]; then
		nsenter --net=/run/netns/"$ns" "$GANTRYD" --data-root "$work/$name/root" --exec-root "$work/$name/x" \
			-H "unix://$sock" --log-level warn >>"$work/$name/log" 2>&1 &
	else
		nsenter --net=/run/netns/"$ns" dockerd --data-root "$work/$name/root" --exec-root "$work/$name/x" \
			--pidfile "$work/$name/pid" -H "unix://$sock" --bridge none --iptables=false --ip-masq=false \
			--log-level warn --containerd-namespace "gsc$$" --containerd-plugins-namespace "gsc$$p" >>"$work/$name/log" 2>&1 &
	fi
	dpid=$!
	pids+=("$dpid")
	wait_ping "$sock" "$dpid" || { tail -20 "$work/$name/log" >&2; die "$name did not start"; }
	hosts+=("unix://$sock")
	DOCKER_HOST=unix://$sock docker import "$work/busybox.tar" "$IMG" >/dev/null
}

# sample NAME KIND COUNT: a row of the table for the engine at $sock/$dpid.
sample() {
	local name=$1 kind=$2 count=$3 helpers t0 list_ms
	if [ "$kind" = gantryd ]; then
		helpers=$(awk 1 "$work/$name"/x/mon/*/monitor.pid 2>/dev/null || true)
	else
		helpers=$(pgrep -f "containerd-shim-runc-v2 -namespace gsc$$ " || true)
	fi
	local hp nh
	# shellcheck disable=SC2086
	hp=$(pss_kb $helpers)
	nh=$(echo "$helpers" | grep -c . || true)
	t0=$(now_ns)
	curl -sf -o /dev/null --unix-socket "$sock" 'http://d/containers/json'
	list_ms=$(ms_since "$t0")
	local daemon_pids=$dpid
	[ "$kind" = dockerd ] && daemon_pids="$dpid $(pgrep -f "containerd --config $work/$name/x" || true)"
	printf '%-10s %6s %8s %6s %10s %10s %10s %8s %10s %8s\n' "$name" "$count" \
		"$(kb "$dpid" Threads)" "$(ls "/proc/$dpid/fd" | wc -l)" "$(( $(kb "$dpid" VmRSS) / 1024 )) MiB" "$(( $(pss_kb $daemon_pids) / 1024 )) MiB" \
		"$((hp / 1024)) MiB" "$nh" "$([ "$nh" -gt 0 ] && echo "$((hp / nh)) KiB" || echo -)" "$list_ms ms" >>"$work/table"
}

# grow NAME KIND: runs containers up to N in batches, sampling at STEPS.
grow() {
	local name=$1 kind=$2 running=0 step i
	for step in $STEPS; do
		[ "$step" -le "$N" ] || continue
		while [ "$running" -lt "$step" ]; do
			local batch=()
			for i in $(seq "$BATCH"); do
				[ $((running + i)) -le "$step" ] || break
				DOCKER_HOST=unix://$sock docker run -d --network none "$IMG" sleep 1000000 >/dev/null &
				batch+=($!)
			done
			wait "${batch[@]}" # not the daemon, also a child
			running=$(DOCKER_HOST=unix://$sock docker ps -q | wc -l)
		done
		sleep 2
		log "$name: $running running"
		sample "$name" "$kind" "$running"
	done
}

busybox_tar "$work/busybox.tar"
start_engine gantryd gantryd
grow gantryd gantryd
if [ "$DOCKERD" = 1 ]; then
	command -v dockerd >/dev/null || die "dockerd not found"
	start_engine dockerd dockerd
	grow dockerd dockerd
fi

printf '\n%s running `sleep` containers (--network none), started %s at a time\n' "$N" "$BATCH"
printf '%-10s %6s %8s %6s %10s %10s %10s %8s %10s %8s\n' "daemon" "ctrs" "threads" "fds" "RSS" "PSS" "helpers" "count" "per ctr" "GET ps"
cat "$work/table"
printf '(helpers: gantry-monitor or containerd-shim-runc-v2, total PSS; dockerd PSS includes its containerd)\n'
