#!/usr/bin/env bash
# Benchmark of reading logs (`make bench-logs`), this tree's gantryd and a
# private dockerd 20.10 side by side, each in a network namespace of its
# own, on the same json-file logs (hard links of one file):
#
#   tail    `docker logs --tail 5` of a LOGMB (default 1024) MB log: the
#           median of 5 and the daemon's peak RSS growth (VmHWM, reset
#           through /proc/PID/clear_refs before)
#   full    `docker logs` of a LINES (default 1,000,000) line log to
#           /dev/null: the time and the daemon's peak RSS growth
#   local   a --log-driver local log written by gantryd, put in place of
#           a dockerd container's: dockerd's `docker logs` gives the same
#
# Prints a table; writes nothing into the tree. Environment: LOGMB, LINES,
# GANTRYD (default bin/gantryd).
set -euo pipefail

cd "$(dirname "$0")/.."
LOGMB=${LOGMB:-1024}
LINES=${LINES:-1000000}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench-logs docker busybox runc curl ip nsenter dockerd
netns=()
hosts=()
cleanup() {
	local h
	for h in "${hosts[@]:-}"; do
		[ -n "$h" ] || continue
		DOCKER_HOST=$h docker rm -f $(DOCKER_HOST=$h docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	done
	stop_daemons
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

kb() { awk -v k="$2" '$1==k":"{print $2}' "/proc/$1/status"; }

# start_engine NAME KIND: gantryd or dockerd in a network namespace of its
# own; sets S_NAME (socket) and P_NAME (pid).
start_engine() {
	local name=$1 kind=$2 ns="glg$$$1" sock pid
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
			--log-level warn --containerd-namespace "glg$$" --containerd-plugins-namespace "glg$$p" >>"$work/$name/log" 2>&1 &
	fi
	pid=$!
	pids+=("$pid")
	wait_ping "$sock" "$pid" || { tail -20 "$work/$name/log" >&2; die "$name did not start"; }
	hosts+=("unix://$sock")
	printf -v "S_$name" '%s' "$sock"
	printf -v "P_$name" '%s' "$pid"
	DOCKER_HOST=unix://$sock docker import "$work/busybox.tar" "$IMG" >/dev/null
}

# with_log NAME FILE: a stopped container of engine NAME whose json log is
# FILE (hard-linked, or copied); prints its ID.
with_log() {
	local s=S_$1 id
	id=$(DOCKER_HOST=unix://${!s} docker create --network none "$IMG" true)
	ln -f "$2" "$work/$1/root/containers/$id/$id-json.log" 2>/dev/null ||
		cp "$2" "$work/$1/root/containers/$id/$id-json.log" # on another mount
	echo "$id"
}

log "writing a ${LOGMB} MB log and a ${LINES}-line one"
gen() { # gen LINES FILE
	awk -v n="$1" 'BEGIN{for(i=0;i<n;i++) printf "{\"log\":\"line %09d %s\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000000Z\"}\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxx"}' >"$2"
}
gen $((LOGMB * 1024 * 1024 / 100)) "$work/big.log"
gen "$LINES" "$work/lines.log"
busybox_tar "$work/busybox.tar"

engines=(gantryd dockerd)
start_engine gantryd gantryd
start_engine dockerd dockerd
docker_version=$(DOCKER_HOST=unix://$S_dockerd docker version -f '{{.Server.Version}}')

for e in "${engines[@]}"; do
	s=S_$e p=P_$e
	export DOCKER_HOST=unix://${!s}
	big=$(with_log "$e" "$work/big.log")
	many=$(with_log "$e" "$work/lines.log")
	docker logs --tail 5 "$big" >/dev/null # warm the page cache
	log "$e: logs --tail 5 of ${LOGMB} MB"
	echo 5 >"/proc/${!p}/clear_refs"
	rss0=$(kb "${!p}" VmRSS)
	for i in 1 2 3 4 5; do
		t0=$(now_ns)
		got=$(docker logs --tail 5 "$big" | tail -1)
		ms_since "$t0" >>"$work/$e.tail"
	done
	case $got in *"line $(printf %09d $((LOGMB * 1024 * 1024 / 100 - 1)))"*) ;; *) die "$e: tail gave $got" ;; esac
	printf -v "TAILMB_$e" '%s' "$(( $(kb "${!p}" VmHWM) - rss0 ))"
	log "$e: logs of $LINES lines"
	docker logs "$many" >/dev/null # warm
	echo 5 >"/proc/${!p}/clear_refs"
	rss0=$(kb "${!p}" VmRSS)
	t0=$(now_ns)
	n=$(docker logs "$many" | wc -l)
	printf -v "FULLMS_$e" '%s' "$(ms_since "$t0")"
	[ "$n" = "$LINES" ] || die "$e: logs gave $n lines of $LINES"
	printf -v "FULLMB_$e" '%s' "$(( $(kb "${!p}" VmHWM) - rss0 ))"
	docker rm "$big" "$many" >/dev/null
	unset DOCKER_HOST
done

log "the local format: dockerd reads a local log gantryd wrote"
local_same=NO
gid=$(DOCKER_HOST=unix://$S_gantryd docker run -d --log-driver local "$IMG" sh -c 'seq 1 5000; echo; printf "no newline"')
DOCKER_HOST=unix://$S_gantryd docker wait "$gid" >/dev/null
DOCKER_HOST=unix://$S_gantryd docker logs "$gid" >"$work/local.gantryd" 2>&1
did=$(DOCKER_HOST=unix://$S_dockerd docker run -d --log-driver local --log-opt compress=false "$IMG" true)
DOCKER_HOST=unix://$S_dockerd docker wait "$did" >/dev/null
cp "$work/gantryd/root/containers/$gid/local-logs/container.log" "$work/dockerd/root/containers/$did/local-logs/container.log"
DOCKER_HOST=unix://$S_dockerd docker logs "$did" >"$work/local.dockerd" 2>&1 || true
cmp -s "$work/local.gantryd" "$work/local.dockerd" && [ "$(wc -l <"$work/local.gantryd")" -ge 5001 ] && local_same=yes

printf '\n%-44s %14s %14s\n' "" "gantryd" "dockerd $docker_version"
printf '%-44s %11s ms %11s ms\n' "logs --tail 5 of a ${LOGMB} MB log, median" "$(median "$work/gantryd.tail")" "$(median "$work/dockerd.tail")"
printf '%-44s %10s KiB %10s KiB\n' "  daemon peak RSS growth" "$TAILMB_gantryd" "$TAILMB_dockerd"
printf '%-44s %11s ms %11s ms\n' "logs of $LINES lines" "$FULLMS_gantryd" "$FULLMS_dockerd"
printf '%-44s %10s KiB %10s KiB\n' "  daemon peak RSS growth" "$FULLMB_gantryd" "$FULLMB_dockerd"
printf '%-44s %14s\n' "dockerd reads gantryd's --log-driver local log" "$local_same"
