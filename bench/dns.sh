#!/usr/bin/env bash
# Benchmark of the embedded DNS server (`make bench-dns`), gantryd and
# dockerd 20.10 side by side, each started here on its own roots in a
# network namespace of its own. On one user network of each, a container
# `web` and a container `client` with integration/testdata/dnsprobe
# (static) bind-mounted:
#
#   latency   `dnsprobe latency N web` in client: N lookups of a container
#             name, one at a time; median and p90 round trip, REPEAT rounds
#             with the engines' order alternating (medians of the rounds)
#   sustained `dnsprobe rate QPS SECONDS web`: QPS lookups a second for
#             SECONDS; answered, failed, and the daemon's RSS before/after
#   flood     the latency probe again, while another container floods
#             its DNS server (as fast as it can send, for 10 s)
#   cost      the daemon's threads and open descriptors with 0 and then
#             CONTAINERS more containers on the network
#
# Environment: N (default 2000), REPEAT (default 3), QPS (default 1000),
# SECONDS_SUSTAINED (default 30), CONTAINERS (default 20), GANTRYD
# (default bin/gantryd), DOCKERD (default dockerd; DOCKERD= skips it).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-2000}
REPEAT=${REPEAT:-3}
QPS=${QPS:-1000}
SECS=${SECONDS_SUSTAINED:-30}
CONTAINERS=${CONTAINERS:-20}
GANTRYD=${GANTRYD:-bin/gantryd}
DOCKERD=${DOCKERD-dockerd}
export DOCKER_CLI_HINTS=false

. bench/lib.sh
bench_init gantry-bench-dns docker curl ip nsenter go
export DOCKER_CONFIG=$work/docker-config
netns=()
cleanup() {
	for e in "${engines[@]}"; do
		DOCKER_HOST=${host[$e]} docker rm -f $(DOCKER_HOST=${host[$e]} docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	done
	stop_daemons
	for n in "${netns[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
}
engines=()
declare -A host pid
trap cleanup EXIT

# new_netns NAME: a namespace with lo up.
new_netns() {
	ip netns add "$1"
	netns+=("$1")
	ip -n "$1" link set lo up
}

start_gantry() {
	new_netns gbdns-g$$
	mkdir -p "$work/gantry"
	nsenter --net=/run/netns/gbdns-g$$ -- "$GANTRYD" --data-root "$work/gantry/root" --exec-root "$work/gantry/exec" \
		-H "unix://$work/gantry/d.sock" --log-level warn >"$work/gantry/log" 2>&1 &
	pid[gantry]=$!
	pids+=("${pid[gantry]}")
	wait_ping "$work/gantry/d.sock" "${pid[gantry]}" || { tail -20 "$work/gantry/log" >&2; die "gantryd did not start"; }
	host[gantry]=unix://$work/gantry/d.sock
	engines+=(gantry)
}

start_docker() {
	new_netns gbdns-d$$
	mkdir -p "$work/docker"
	nsenter --net=/run/netns/gbdns-d$$ -- "$DOCKERD" --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
		-H "unix://$work/docker/d.sock" --pidfile "$work/docker/pid" --log-level warn \
		--containerd-namespace gbdns$$ --containerd-plugins-namespace gbdns$$p >"$work/docker/log" 2>&1 &
	pid[docker]=$!
	pids+=("${pid[docker]}")
	wait_ping "$work/docker/d.sock" "${pid[docker]}" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	host[docker]=unix://$work/docker/d.sock
	engines+=(docker)
}

rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads/{print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

start_gantry
if [ -n "$DOCKERD" ] && command -v "$DOCKERD" >/dev/null; then
	start_docker
	docker_note="dockerd $(DOCKER_HOST=${host[docker]} docker version -f '{{.Server.Version}}'), started here in its own namespace"
else
	docker_note="skipped: no dockerd"
fi

log "building the DNS probe"
CGO_ENABLED=0 go build -o "$work/probe/dnsprobe" ./integration/testdata/dnsprobe
busybox_tar "$work/busybox.tar"
for e in "${engines[@]}"; do
	export DOCKER_HOST=${host[$e]}
	docker import -c 'ENV PATH=/bin' "$work/busybox.tar" busybox:latest >/dev/null
	docker network create benchnet >/dev/null
	docker run -d --name web --network benchnet busybox sleep 100000 >/dev/null
	docker run -d --name client --network benchnet -v "$work/probe:/probe:ro" busybox sleep 100000 >/dev/null
	docker exec client /probe/dnsprobe latency 200 web >/dev/null # warm up
done

# field LINE KEY: the value of KEY=... in the probe's line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k{print $2}'; }

log "latency: $REPEAT rounds of $N lookups"
for i in $(seq "$REPEAT"); do
	order=("${engines[@]}")
	[ $((i % 2)) = 0 ] && order=($(printf '%s\n' "${engines[@]}" | tac))
	for e in "${order[@]}"; do
		out=$(DOCKER_HOST=${host[$e]} docker exec client /probe/dnsprobe latency "$N" web)
		log "$e: $out"
		[ "$(field "$out" failed)" = 0 ] || die "$e: lookups failed: $out"
		field "$out" median_us >>"$work/$e.median"
		field "$out" p90_us >>"$work/$e.p90"
	done
done

log "sustained: $QPS lookups/s for ${SECS}s (after 5 s of it to warm up)"
for e in "${engines[@]}"; do
	DOCKER_HOST=${host[$e]} docker exec client /probe/dnsprobe rate "$QPS" 5 web >/dev/null
	rss0=$(rss_kib "${pid[$e]}")
	out=$(DOCKER_HOST=${host[$e]} docker exec client /probe/dnsprobe rate "$QPS" "$SECS" web)
	rss1=$(rss_kib "${pid[$e]}")
	log "$e: $out; RSS ${rss0} -> ${rss1} KiB"
	echo "$(field "$out" ok) $(field "$out" failed) $(field "$out" achieved_qps) $rss0 $rss1" >"$work/$e.sustained"
done

log "flood: another container floods its DNS server for 10 s meanwhile"
for e in "${engines[@]}"; do
	export DOCKER_HOST=${host[$e]}
	docker run -d --name flooder --network benchnet -v "$work/probe:/probe:ro" busybox sleep 100000 >/dev/null
	docker exec flooder /probe/dnsprobe flood 10 web >"$work/$e.flooder" &
	flood_pid=$!
	sleep 1
	out=$(docker exec client /probe/dnsprobe latency 3000 web)
	wait "$flood_pid"
	log "$e: $out; the flooder: $(cat "$work/$e.flooder")"
	echo "$(field "$out" median_us) $(field "$out" p90_us) $(field "$out" failed)" >"$work/$e.flood"
	docker rm -f flooder >/dev/null
done

log "cost: $CONTAINERS more containers on the network"
for e in "${engines[@]}"; do
	export DOCKER_HOST=${host[$e]}
	t0=$(threads "${pid[$e]}") f0=$(fds "${pid[$e]}")
	for i in $(seq "$CONTAINERS"); do
		docker run -d --name "more$i" --network benchnet busybox sleep 100000 >/dev/null
	done
	sleep 1
	t1=$(threads "${pid[$e]}") f1=$(fds "${pid[$e]}")
	echo "$t0 $t1 $f0 $f1" >"$work/$e.cost"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "-"; else printf "%.2f", a/b}'; }
per() { awk -v a="$1" -v b="$2" -v n="$CONTAINERS" 'BEGIN{printf "%.1f", (b-a)/n}'; }
col() { [ -f "$work/$1.$2" ] && cat "$work/$1.$2" || echo "-"; }
printf '\nDocker: %s\n' "$docker_note"
printf '%-44s %14s %14s %8s\n' "" gantry docker "ratio"
g=$(median "$work/gantry.median") d=$( [ -f "$work/docker.median" ] && median "$work/docker.median" || echo 0)
printf '%-44s %14s %14s %8s\n' "lookup of a container name, median (us)" "$g" "$d" "$(ratio "$g" "$d")"
g=$(median "$work/gantry.p90") d=$( [ -f "$work/docker.p90" ] && median "$work/docker.p90" || echo 0)
printf '%-44s %14s %14s %8s\n' "lookup of a container name, p90 (us)" "$g" "$d" "$(ratio "$g" "$d")"
for e in gantry docker; do
	if [ -f "$work/$e.sustained" ]; then
		read -r ok failed qps rss0 rss1 <"$work/$e.sustained"
		read -r t0 t1 f0 f1 <"$work/$e.cost"
		read -r fm fp ff <"$work/$e.flood"
		eval "s_$e=\"$ok/$failed @ $qps/s\" r_$e=\"$rss0->$rss1\" t_$e=$(per "$t0" "$t1") f_$e=$(per "$f0" "$f1") l_$e=\"$fm/$fp/$ff\""
	else
		eval "s_$e=- r_$e=- t_$e=- f_$e=- l_$e=-"
	fi
done
printf '%-44s %14s %14s\n' "$QPS/s for ${SECS}s: answered/failed @ rate" "$s_gantry" "$s_docker"
printf '%-44s %14s %14s\n' "daemon RSS before->after (KiB)" "$r_gantry" "$r_docker"
printf '%-44s %14s %14s\n' "during a flood: median/p90 us/failed" "$l_gantry" "$l_docker"
printf '%-44s %14s %14s\n' "daemon threads per container" "$t_gantry" "$t_docker"
printf '%-44s %14s %14s\n' "daemon open descriptors per container" "$f_gantry" "$f_docker"
echo "targets: median <= 1000 us; $QPS/s sustained with no failure and no RSS growth"
