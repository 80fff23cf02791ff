#!/usr/bin/env bash
# The cost of user-namespace remapping (--userns-remap=default), Gantry
# and Docker each with it off and on, all driven by the docker CLI (`make
# bench-userns`). Prints a table; writes nothing into the tree.
#
#   run      `docker run --rm busybox true`, RUNS times, median (default
#            bridge network), and the same with --network none
#   build    a 20-step build (FROM busybox, 19 RUN steps) with --no-cache,
#            REPEAT times, median
#   (the engines take turns within each measure)
#
# Four private daemons, each in a network namespace of its own with its
# own bridge: gantryd ($GANTRYD) without and with --userns-remap=default,
# and, when installed, dockerd without and with it. Remapping creates the
# user dockremap and its ranges in /etc/subuid and /etc/subgid when
# missing, as dockerd does.
#
# Environment: RUNS (default 20), REPEAT (default 5); GANTRYD.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
unset DOCKER_BUILDKIT

. bench/lib.sh
bench_init gantry-bench-userns docker busybox runc curl
chmod 711 "$work" # the remapped root searches its way to the data roots
netnss=()
cleanup() {
	stop_daemons
	for n in "${netnss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME CMD...: starts a daemon in a network namespace of its own, on
# the socket $work/NAME/d.sock; sets H_NAME.
start() {
	local n=$1 ns=gbu-$1-$$
	shift
	ip netns add "$ns"
	netnss+=("$ns")
	ip -n "$ns" link set lo up
	mkdir -p "$work/$n"
	nsenter --net="/run/netns/$ns" "$@" >"$work/$n/log" 2>&1 &
	pids+=($!)
	wait_ping "$work/$n/d.sock" "$!" || { tail -20 "$work/$n/log" >&2; die "$n did not start"; }
	eval "H_$n=unix://$work/$n/d.sock"
}
gantryd() { # gantryd NAME ARGS...
	local n=$1
	shift
	start "$n" "$GANTRYD" --data-root "$work/$n/root" --exec-root "$work/$n/x" -H "unix://$work/$n/d.sock" --log-level warn "$@"
}
dockerd_() { # dockerd_ NAME ARGS...
	local n=$1
	shift
	start "$n" dockerd --data-root "$work/$n/root" --exec-root "$work/$n/x" --pidfile "$work/$n/pid" -H "unix://$work/$n/d.sock" --log-level warn "$@"
}

busybox_tar "$work/busybox.tar"
gantryd goff
gantryd gon --userns-remap=default
engines=(goff gon)
docker_note="skipped: dockerd not installed"
if command -v dockerd >/dev/null; then
	dockerd_ doff
	dockerd_ don --userns-remap=default
	engines+=(doff don)
	docker_note="private dockerd $(DOCKER_HOST=$H_doff docker version -f '{{.Server.Version}}')"
fi
for e in "${engines[@]}"; do
	DOCKER_HOST=$(eval echo "\$H_$e") docker import "$work/busybox.tar" bench/busybox:1 >/dev/null
done

mkdir -p "$work/twenty"
{
	echo "FROM bench/busybox:1"
	for i in $(seq 2 20); do echo "RUN echo step $i > /s$i"; done
} >"$work/twenty/Dockerfile"

timed() { # timed FILE CMD...: appends the milliseconds CMD took to FILE
	local f=$1 t
	shift
	t=$(now_ns)
	"$@" >/dev/null 2>"$f.err" || { cat "$f.err" >&2; die "$* failed"; }
	ms_since "$t" >>"$f"
}
on() { local e=$1; shift; DOCKER_HOST=$(eval echo "\$H_$e") "$@"; }

for e in "${engines[@]}"; do # warm-up, not counted
	on "$e" docker run --rm bench/busybox:1 true
	on "$e" docker build -q --no-cache "$work/twenty" >/dev/null
done
log "$RUNS x docker run --rm busybox true, bridge and --network none, engines taking turns"
for _ in $(seq "$RUNS"); do
	for e in "${engines[@]}"; do
		timed "$work/$e.run" on "$e" docker run --rm bench/busybox:1 true
		timed "$work/$e.runnone" on "$e" docker run --rm --network none bench/busybox:1 true
	done
done
log "$REPEAT x 20-step build --no-cache, engines taking turns"
for _ in $(seq "$REPEAT"); do
	for e in "${engines[@]}"; do timed "$work/$e.build" on "$e" docker build -q --no-cache "$work/twenty"; done
done

# --- Report ----------------------------------------------------------------
m() { [ -f "$work/$1.$2" ] && median "$work/$1.$2" || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "-" && b != "-" && a > 0) printf "%.2f", b/a; else print "-" }'; }
echo
echo "User-namespace remapping off and on ($(nproc) cores, kernel $(uname -r); Docker: $docker_note)"
printf '%-44s %9s %9s %7s %9s %9s %7s\n' "measure (median ms)" "gantry" "+remap" "on/off" "docker" "+remap" "on/off"
row() { # row LABEL MEASURE
	local a b c d
	a=$(m goff "$2") b=$(m gon "$2") c=$(m doff "$2") d=$(m don "$2")
	printf '%-44s %9s %9s %7s %9s %9s %7s\n' "$1" "$a" "$b" "$(ratio "$a" "$b")" "$c" "$d" "$(ratio "$c" "$d")"
}
row "docker run --rm busybox true ($RUNS)" run
row "docker run --rm --network none ... ($RUNS)" runnone
row "20-step build --no-cache ($REPEAT)" build
