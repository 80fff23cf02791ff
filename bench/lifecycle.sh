#!/usr/bin/env bash
# Benchmark of restart policies and events (`make bench-lifecycle`):
# gantryd and dockerd 20.10 side by side, each started here on its own
# roots in a network namespace of its own, one after the other (the other
# one idle), with the Python Docker SDK as the client:
#
#   backoff  a container `--restart always` whose command fails at once:
#            the wait from each die event to the next start event, for the
#            first RESTARTS restarts (dockerd's back-off: 100 ms, doubling,
#            plus the engine's start), median of REPEAT containers
#   die      N containers `true`, one at a time, with an events stream
#            filtered on their die open: the client's receipt of the die
#            event after State.FinishedAt (the exit as the engine's runtime
#            saw it); median and p90
#
# Environment: RESTARTS (default 7), REPEAT (default 3), N (default 200), GANTRYD (default
# bin/gantryd), DOCKERD (default dockerd; DOCKERD= skips it).
set -euo pipefail

cd "$(dirname "$0")/.."
RESTARTS=${RESTARTS:-7}
REPEAT=${REPEAT:-3}
N=${N:-200}
GANTRYD=${GANTRYD:-bin/gantryd}
DOCKERD=${DOCKERD-dockerd}
export DOCKER_CLI_HINTS=false

. bench/lib.sh
bench_init gantry-bench-lifecycle docker curl ip nsenter python3
python3 -c 'import docker' 2>/dev/null || die "the Python Docker SDK is needed (apt-get install python3-docker)"
export DOCKER_CONFIG=$work/docker-config
netns=()
engines=()
declare -A host pid
cleanup() {
	for e in "${engines[@]}"; do
		DOCKER_HOST=${host[$e]} docker rm -f $(DOCKER_HOST=${host[$e]} docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	done
	stop_daemons
	for n in "${netns[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

new_netns() {
	ip netns add "$1"
	netns+=("$1")
	ip -n "$1" link set lo up
}

start_engine() { # start_engine gantry|docker
	local e=$1 ns=gblc-${1:0:1}$$
	new_netns "$ns"
	mkdir -p "$work/$e"
	if [ "$e" = gantry ]; then
		nsenter --net=/run/netns/$ns -- "$GANTRYD" --data-root "$work/$e/root" --exec-root "$work/$e/exec" \
			-H "unix://$work/$e/d.sock" --log-level warn >"$work/$e/log" 2>&1 &
	else
		nsenter --net=/run/netns/$ns -- "$DOCKERD" --data-root "$work/$e/root" --exec-root "$work/$e/exec" \
			-H "unix://$work/$e/d.sock" --pidfile "$work/$e/pid" --log-level warn \
			--containerd-namespace gblc$$ --containerd-plugins-namespace gblc$$p >"$work/$e/log" 2>&1 &
	fi
	pid[$e]=$!
	pids+=("${pid[$e]}")
	wait_ping "$work/$e/d.sock" "${pid[$e]}" || { tail -20 "$work/$e/log" >&2; die "$e did not start"; }
	host[$e]=unix://$work/$e/d.sock
	engines+=("$e")
	DOCKER_HOST=${host[$e]} docker import -c 'ENV PATH=/bin' "$work/busybox.tar" busybox:latest >/dev/null
}

cat >"$work/bench.py" <<'PY'
import sys, time, docker

def ns(rfc3339):
    # "2026-12-07T02:50:00.123456789Z": seconds by the calendar, nanoseconds by hand.
    import calendar
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return secs * 10**9 + int((frac + "000000000")[:9])

host, what, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = docker.DockerClient(base_url=host, timeout=120)
if what == "backoff":
    evs = c.events(decode=True, filters={"type": "container", "label": "bench=backoff"})
    ctr = c.containers.run("busybox", ["sh", "-c", "exit 1"], detach=True, restart_policy={"Name": "always"}, labels={"bench": "backoff"})
    died, gaps = None, []
    for ev in evs:
        t = time.monotonic_ns()
        if ev["Action"] == "die":
            died = t
        elif ev["Action"] == "start" and died is not None:
            gaps.append((t - died) / 1e6)
            if len(gaps) == n:
                break
    ctr.remove(force=True)
    print(" ".join("%.1f" % g for g in gaps))
else:
    evs = c.events(decode=True, filters={"type": "container", "event": "die", "label": "bench=die"})
    lat = []
    for i in range(n):
        ctr = c.containers.run("busybox", ["true"], detach=True, labels={"bench": "die"})
        next(evs)
        got = time.time_ns()
        ctr.reload()
        lat.append((got - ns(ctr.attrs["State"]["FinishedAt"])) / 1e6)
        ctr.remove()
    lat.sort()
    print("%.2f %.2f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.9)]))
PY

busybox_tar "$work/busybox.tar"
engines_wanted=(gantry)
[ -n "$DOCKERD" ] && engines_wanted+=(docker)
declare -A backoff die
for e in "${engines_wanted[@]}"; do
	log "$e: starting"
	start_engine "$e"
	log "$e: back-off of $RESTARTS restarts"
	for _ in $(seq "$REPEAT"); do
		python3 "$work/bench.py" "${host[$e]}" backoff "$RESTARTS" >>"$work/backoff.$e"
	done
	# the median of each restart's waits over the rounds
	backoff[$e]=$(for i in $(seq "$RESTARTS"); do awk -v i="$i" '{print $i}' "$work/backoff.$e" >"$work/col"; median "$work/col"; done | tr '\n' ' ')
	log "$e: die delivery of $N containers"
	die[$e]=$(python3 "$work/bench.py" "${host[$e]}" die "$N")
	kill -TERM "${pid[$e]}"
	wait "${pid[$e]}" 2>/dev/null || true
done

echo
echo "restart back-off: the wait from a die event to the next start event (ms), --restart always, a command failing at once"
printf '%-8s %10s %10s %10s %8s\n' restart back-off gantry docker ratio
read -ra g <<<"${backoff[gantry]}"
read -ra d <<<"${backoff[docker]:-}"
for i in "${!g[@]}"; do
	dv=${d[$i]:-}
	ratio=-
	[ -n "$dv" ] && ratio=$(awk -v a="${g[$i]}" -v b="$dv" 'BEGIN{printf "%.2f", a/b}')
	printf '%-8s %10s %10s %10s %8s\n' "$((i + 1))" "$((100 << i))" "${g[$i]}" "${dv:--}" "$ratio"
done
echo
echo "die event delivery: client receipt after State.FinishedAt, $N containers (ms)"
printf '%-8s %10s %10s\n' engine median p90
for e in "${engines_wanted[@]}"; do
	read -r m p <<<"${die[$e]}"
	printf '%-8s %10s %10s\n' "$e" "$m" "$p"
done
