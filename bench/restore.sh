#!/usr/bin/env bash
# Benchmark of the per-container monitor (`make bench-restore`). Prints a
# table; writes nothing into the tree.
#
#   run      `docker run --rm busybox true`, RUNS times on this tree's
#            gantryd and on BASE's (a git revision, default main, built in
#            a temporary directory), taking turns: median and p90
#   pss      memory per running container added by its monitor: PSS from
#            /proc/PID/smaps_rollup of gantry-monitor over N `sleep`
#            containers, and of containerd-shim-runc-v2 under a private
#            dockerd (the peer), both divided by N
#   tail     `docker logs --tail 5` of a LOGMB (default 200) MB json log on
#            each gantryd: median of 5, and the growth of gantryd's peak RSS
#   gantryd  gantryd's threads and PSS with N containers running
#   restore  gantryd SIGKILLed and started again RESTARTS (default 10) times
#            with the N containers (one a counter logging every 10 ms, one
#            a web server on a published port): whether all run on with
#            the same pid and the port answers after each restart, the
#            counter's log without a gap, the restart's time to /_ping
#
# Each gantryd runs in a network namespace of its own; dockerd runs with
# --bridge none --iptables=false. Environment: RUNS (default 30), N (default
# 20), LOGMB (default 200), BASE (default main), GANTRYD (default bin/gantryd).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
N=${N:-20}
LOGMB=${LOGMB:-200}
RESTARTS=${RESTARTS:-10}
BASE=${BASE:-main}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench-restore docker busybox runc curl ip nsenter
netns=()
cleanup() {
	stop_daemons_ns
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

# stop_daemons_ns: as stop_daemons, and the containers (monitors) the
# gantryds leave running under live restore.
stop_daemons_ns() {
	local h
	for h in "${hosts[@]:-}"; do
		[ -n "$h" ] || continue
		DOCKER_HOST=$h docker rm -f $(DOCKER_HOST=$h docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	done
	stop_daemons
}
hosts=()

pss_kb() { # pss_kb PID... : summed Pss in kB
	local kb=0 pid v
	for pid in "$@"; do
		v=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		kb=$((kb + ${v:-0}))
	done
	echo "$kb"
}

# start_ns_gantryd NAME BIN: a gantryd from BIN in a new network
# namespace, on roots under $work/NAME; sets $H_NAME and $P_NAME.
start_ns_gantryd() {
	local name=$1 bin=$2 ns="gbr$$$1"
	ip netns add "$ns"
	netns+=("$ns")
	nsenter --net=/run/netns/"$ns" ip link set lo up
	mkdir -p "$work/$name"
	nsenter --net=/run/netns/"$ns" "$bin" --data-root "$work/$name/root" --exec-root "$work/$name/x" \
		-H "unix://$work/$name/d.sock" --log-level warn >>"$work/$name/log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_ping "$work/$name/d.sock" "$pid" || { tail -20 "$work/$name/log" >&2; die "$name gantryd did not start"; }
	printf -v "H_$name" '%s' "unix://$work/$name/d.sock"
	printf -v "P_$name" '%s' "$pid"
	printf -v "NS_$name" '%s' "$ns"
}

log "building $BASE's gantryd"
git archive "$BASE" | (mkdir -p "$work/base-src" && tar -x -C "$work/base-src")
(cd "$work/base-src" && go build -o bin/gantryd ./cmd/gantryd && { [ ! -d cmd/gantry-monitor ] || go build -o bin/gantry-monitor ./cmd/gantry-monitor; })
busybox_tar "$work/busybox.tar"

start_ns_gantryd new "$GANTRYD"
start_ns_gantryd base "$work/base-src/bin/gantryd"
hosts=("$H_new" "$H_base")
for e in new base; do
	h=H_$e
	DOCKER_HOST=${!h} docker import "$work/busybox.tar" "$IMG" >/dev/null
	DOCKER_HOST=${!h} docker run --rm "$IMG" true # warm-up
done

log "run: $RUNS runs each, taking turns"
for i in $(seq "$RUNS"); do
	for e in new base; do
		h=H_$e
		t0=$(now_ns)
		DOCKER_HOST=${!h} docker run --rm "$IMG" true
		ms_since "$t0" >>"$work/$e.run"
	done
done

log "logs --tail 5 of a ${LOGMB}MB json log, on each gantryd"
awk -v n=$((LOGMB * 1024 * 1024 / 100)) 'BEGIN{for(i=0;i<n;i++) printf "{\"log\":\"line %08d %s\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000000Z\"}\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' >"$work/big.log"
for e in new base; do
	h=H_$e
	p=P_$e
	id=$(DOCKER_HOST=${!h} docker create "$IMG" true)
	cp "$work/big.log" "$work/$e/root/containers/$id/$id-json.log"
	hwm0=$(awk '/^VmHWM:/{print $2}' "/proc/${!p}/status")
	for i in 1 2 3 4 5; do
		t0=$(now_ns)
		DOCKER_HOST=${!h} docker logs --tail 5 "$id" >/dev/null
		ms_since "$t0" >>"$work/$e.tail"
	done
	hwm1=$(awk '/^VmHWM:/{print $2}' "/proc/${!p}/status")
	printf -v "HWM_$e" '%s' "$(( (hwm1 - hwm0) / 1024 ))"
	DOCKER_HOST=${!h} docker rm "$id" >/dev/null
done
rm -f "$work/big.log"

log "pss: $N running containers on this tree's gantryd (a counter every 10 ms, a web server on a published port, sleepers)"
port=$((20000 + RANDOM % 10000))
DOCKER_HOST=$H_new docker run -d --name counter "$IMG" sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done' >/dev/null
DOCKER_HOST=$H_new docker run -d --name web -p "$port:80" "$IMG" sh -c 'mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
for i in $(seq $((N - 2))); do
	DOCKER_HOST=$H_new docker run -d "$IMG" sleep 100000 >/dev/null
done
sleep 1
mons=($(for d in "$work"/new/x/mon/*/; do cat "$d/monitor.pid"; echo; done))
mon_pss=$(pss_kb "${mons[@]}")
gantryd_threads=$(awk '/^Threads:/{print $2}' "/proc/$P_new/status")
gantryd_pss=$(pss_kb "$P_new")
declare -A before
for id in $(DOCKER_HOST=$H_new docker ps -q --no-trunc); do
	before[$id]=$(DOCKER_HOST=$H_new docker inspect -f '{{.State.Pid}}' "$id")
done

log "restore: SIGKILL gantryd with $N containers and start it again, $RESTARTS times"
same_all=1 port_all=1
for r in $(seq "$RESTARTS"); do
	kill -KILL "$P_new"
	wait "$P_new" 2>/dev/null || true
	t0=$(now_ns)
	nsenter --net=/run/netns/"$NS_new" "$GANTRYD" --data-root "$work/new/root" --exec-root "$work/new/x" \
		-H "unix://$work/new/d.sock" --log-level warn >>"$work/new/log" 2>&1 &
	P_new=$!
	pids+=("$P_new")
	wait_ping "$work/new/d.sock" "$P_new" || die "gantryd did not start again"
	ms_since "$t0" >>"$work/restart"
	same=0
	for id in "${!before[@]}"; do
		got=$(DOCKER_HOST=$H_new docker inspect -f '{{.State.Status}} {{.State.Pid}}' "$id")
		[ "$got" = "running ${before[$id]}" ] && same=$((same + 1))
	done
	[ "$same" = "$N" ] || { same_all=0; log "restart $r: $same of $N running with the same pid"; }
	nsenter --net=/run/netns/"$NS_new" curl -sf --max-time 2 "http://127.0.0.1:$port/" >/dev/null || { port_all=0; log "restart $r: port $port does not answer"; }
	sleep 0.3
done
gaps=$(DOCKER_HOST=$H_new docker logs counter | awk 'NR-1 != $1 {g++} END{print g+0}')
counted=$(DOCKER_HOST=$H_new docker logs counter | wc -l)

shim_note="skipped: no dockerd"
if command -v dockerd >/dev/null; then
	log "pss: $N running containers on a private dockerd"
	mkdir -p "$work/docker"
	dns="gbd$$"
	dockerd --data-root "$work/docker/root" --exec-root "$work/docker/x" --pidfile "$work/docker/pid" \
		-H "unix://$work/docker/d.sock" --bridge none --iptables=false --log-level warn \
		--containerd-namespace "$dns" --containerd-plugins-namespace "${dns}p" >"$work/docker/log" 2>&1 &
	dpid=$!
	pids+=("$dpid")
	wait_ping "$work/docker/d.sock" "$dpid" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	hosts+=("unix://$work/docker/d.sock")
	export DOCKER_HOST=unix://$work/docker/d.sock
	docker import "$work/busybox.tar" "$IMG" >/dev/null
	for i in $(seq "$N"); do docker run -d --network none "$IMG" sleep 100000 >/dev/null; done
	sleep 1
	shims=($(pgrep -f "containerd-shim-runc-v2 -namespace $dns " || true))
	shim_pss=$(pss_kb "${shims[@]}")
	shim_note="$(docker version -f '{{.Server.Version}}'), ${#shims[@]} shims"
	unset DOCKER_HOST
fi

printf '\n%-44s %12s %12s\n' "" "this tree" "$BASE"
printf '%-44s %9s ms %9s ms\n' "docker run --rm busybox true, median" "$(median "$work/new.run")" "$(median "$work/base.run")"
printf '%-44s %9s ms %9s ms\n' "docker run --rm busybox true, p90" "$(p90 "$work/new.run")" "$(p90 "$work/base.run")"
printf '%-44s %9s ms %9s ms\n' "logs --tail 5 of a ${LOGMB} MB log, median" "$(median "$work/new.tail")" "$(median "$work/base.tail")"
printf '%-44s %8s MiB %8s MiB\n' "  gantryd peak RSS (VmHWM) growth" "$HWM_new" "$HWM_base"
printf '\n%-44s %12s\n' "with $N running containers" "value"
printf '%-44s %9s KiB\n' "gantry-monitor PSS per container" "$((mon_pss / N))"
if [ -n "${shim_pss:-}" ]; then
	printf '%-44s %9s KiB   (dockerd %s)\n' "containerd-shim-runc-v2 PSS per container" "$((shim_pss / N))" "$shim_note"
else
	printf '%-44s %12s\n' "containerd-shim-runc-v2 PSS per container" "$shim_note"
fi
printf '%-44s %12s\n' "gantryd threads" "$gantryd_threads"
printf '%-44s %9s KiB\n' "gantryd PSS" "$gantryd_pss"
printf '%-44s %12s\n' "$RESTARTS SIGKILLs: all $N with the same pids" "$([ "$same_all" = 1 ] && echo yes || echo NO)"
printf '%-44s %12s\n' "  published port answered after each" "$([ "$port_all" = 1 ] && echo yes || echo NO)"
printf '%-44s %12s\n' "  counter log lines, gaps" "$counted, $gaps"
printf '%-44s %9s ms\n' "  restart to /_ping, median" "$(median "$work/restart")"
