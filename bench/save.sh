#!/usr/bin/env bash
# Benchmark of docker save and docker load, Gantry against Docker, both
# driven by the docker CLI (`make bench-save`). Prints a table; writes
# nothing into the tree.
#
#   save     `docker save -o FILE` of a one-layer ~170 MB image (the Debian
#            rootfs tar scripts/debian-base.sh makes and caches in BENCH_CACHE)
#   load     `docker load -i FILE` of that archive after `docker rmi`, so
#            that the layer is extracted again
#   (a warm-up round, then REPEAT rounds with the engines taking turns,
#   medians; each engine loads its own archive, and Gantry Docker's too)
#
# The rootfs gets a file unique to the run, so that no image already on the
# shared dockerd holds its layer (docker load skips layers it has).
# Docker's column uses the dockerd at /var/run/docker.sock when it answers,
# else it is skipped.
#
# Environment: REPEAT (default 5); GANTRYD (default bin/gantryd) and
# GANTRYD_EXTRA_ARGS; BENCH_CACHE (default /var/tmp/gantry-bench).
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
export BENCH_CACHE=${BENCH_CACHE:-/var/tmp/gantry-bench}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/save:$$

. bench/lib.sh
bench_init gantry-bench-save docker curl
hosts=()
cleanup() {
	for h in "${hosts[@]}"; do DOCKER_HOST=$h docker rmi "$IMG" >/dev/null 2>&1 || true; done
	stop_daemons
}
trap cleanup EXIT

tar=$(scripts/debian-base.sh) || die "no Debian base rootfs (scripts/debian-base.sh said why)"
cp "$tar" "$work/big.tar"
echo "$work $(date +%s%N)" >"$work/stamp"
tar -C "$work" -rf "$work/big.tar" stamp

# --- Engines ---------------------------------------------------------------
start_gantryd
find_engines
for n in "${engines[@]}"; do
	h=$(eval echo "\$H_$n")
	hosts+=("$h")
	DOCKER_HOST=$h docker import "$work/big.tar" "$IMG" >/dev/null
done

# timed FILE CMD...: appends the milliseconds CMD took to FILE.
timed() {
	local f=$1 t
	shift
	sync
	t=$(now_ns)
	"$@" >/dev/null || die "$* failed"
	ms_since "$t" >>"$f"
}

# round ENGINE HOST: save, remove, load its own archive; Gantry then also
# loads Docker's archive, when there is one.
round() {
	local n=$1 h=$2
	rm -f "$work/$n.tar"
	DOCKER_HOST=$h timed "$work/$n.save" docker save -o "$work/$n.tar" "$IMG"
	DOCKER_HOST=$h docker rmi "$IMG" >/dev/null
	DOCKER_HOST=$h timed "$work/$n.load" docker load -i "$work/$n.tar"
	if [ "$n" = gantry ] && [ -f "$work/docker.tar" ]; then
		DOCKER_HOST=$h docker rmi "$IMG" >/dev/null
		DOCKER_HOST=$h timed "$work/gantry.loaddocker" docker load -i "$work/docker.tar"
	fi
}

# each: one round per engine, alternating the order from call to call, as
# whoever goes second pays for the first one's disk writes.
order=0
each() {
	local list=("${engines[@]}")
	if [ $((order % 2)) = 1 ] && [ ${#list[@]} = 2 ]; then list=("${list[1]}" "${list[0]}"); fi
	order=$((order + 1))
	for n in "${list[@]}"; do round "$n" "$(eval echo "\$H_$n")"; done
}

log "warm-up round (not counted)"
each
rm -f "$work"/*.save "$work"/*.load "$work"/*.loaddocker
for i in $(seq "$REPEAT"); do
	log "round $i/$REPEAT: save and load of a $(du -Lm "$work/big.tar" | cut -f1) MB image"
	each
done

# --- Report ----------------------------------------------------------------
row() { # row LABEL GANTRY_MEASURE DOCKER_MEASURE
	local g d ratio
	g=$(median "$work/gantry.$2")
	if [ -f "$work/docker.$3" ]; then
		d=$(median "$work/docker.$3")
		ratio=$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')
		printf '%-58s %10s %10s %8s\n' "$1" "$g ms" "$d ms" "$ratio"
	else
		printf '%-58s %10s %10s %8s\n' "$1" "$g ms" "-" "-"
	fi
}
echo
echo "Gantry vs Docker save/load, through the docker CLI ($(nproc) cores; Docker: $docker_note)"
printf '%-58s %10s %10s %8s\n' "measure" "gantry" "docker" "g/d"
row "docker save -o, $(du -Lm "$work/big.tar" | cut -f1) MB image, median of $REPEAT" save save
row "docker load -i of its own archive, median of $REPEAT" load load
if [ -f "$work/gantry.loaddocker" ]; then
	row "docker load -i of Docker's archive, median of $REPEAT" loaddocker load
fi
