#!/usr/bin/env bash
# Benchmark of the seccomp filter's cost (`make bench-security`):
# `docker run --rm --network none busybox true` with Docker's default
# profile and with `--security-opt seccomp=unconfined`, against gantryd and
# dockerd side by side, through the docker CLI. Each round runs both
# variants on both engines, the order alternating from round to round; the
# table gives medians and p90s, the filter's cost (default - unconfined)
# and the ratios gantry/docker. Then `runc run` alone, on the bundles
# gantryd wrote for the two variants (rootfs, mounts and namespaces made
# self-contained), RUNS times each: the share of the cost that is runc
# compiling and loading the filter, which dockerd's runc pays too.
#
# Docker's column uses the dockerd at /var/run/docker.sock when it answers,
# else a private dockerd (--bridge none), else it is skipped.
#
# Environment: RUNS (default 30), GANTRYD (default bin/gantryd) and
# GANTRYD_EXTRA_ARGS.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false
IMG=gantry-bench/busybox:latest

. bench/lib.sh
bench_init gantry-bench-security docker busybox runc curl
trap stop_daemons EXIT

busybox_tar "$work/busybox.tar"
start_gantryd
H_gantry=$gantry_host
engines=(gantry)
docker_note="skipped: no dockerd running or installed"
if DOCKER_HOST=unix:///var/run/docker.sock docker version >/dev/null 2>&1; then
	H_docker=unix:///var/run/docker.sock
	docker_note="the running dockerd at /var/run/docker.sock"
elif command -v dockerd >/dev/null; then
	mkdir -p "$work/docker"
	dockerd --data-root "$work/docker/root" --exec-root "$work/docker/x" --pidfile "$work/docker/pid" \
		-H "unix://$work/docker/d.sock" --bridge none --iptables=false --log-level warn >"$work/docker/log" 2>&1 &
	pids+=($!)
	wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	H_docker=unix://$work/docker/d.sock
	docker_note="a private dockerd"
fi
if [ -n "${H_docker:-}" ]; then
	engines+=(docker)
	docker_note="$docker_note, $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}')"
fi

variant_args() { # variant_args VARIANT: the docker run options of a variant
	case $1 in
	default) echo "" ;;
	unconfined) echo "--security-opt seccomp=unconfined" ;;
	esac
}

# one_run ENGINE VARIANT: times one docker run into $work/ENGINE.VARIANT.
one_run() {
	local host t
	host=$(eval echo "\$H_$1")
	t=$(now_ns)
	# shellcheck disable=SC2046
	DOCKER_HOST=$host docker run --rm --network none $(variant_args "$2") "$IMG" true
	ms_since "$t" >>"$work/$1.$2"
}

for e in "${engines[@]}"; do
	host=$(eval echo "\$H_$e")
	log "$e: import busybox as $IMG, check the filter, warm up"
	DOCKER_HOST=$host docker import "$work/busybox.tar" "$IMG" >/dev/null
	for v in default unconfined; do
		# shellcheck disable=SC2046
		s=$(DOCKER_HOST=$host docker run --rm --network none $(variant_args $v) "$IMG" grep Seccomp: /proc/self/status)
		log "$e $v: $s"
		case "$v:$s" in
		default:*2 | unconfined:*0) ;;
		*) die "$e $v: $s, not what the variant asks for" ;;
		esac
	done
done

log "$RUNS rounds of docker run --rm busybox true: ${engines[*]} x default, unconfined"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then order="default unconfined"; else order="unconfined default"; fi
	for e in "${engines[@]}"; do
		for v in $order; do one_run "$e" "$v"; done
	done
done

# runc alone: the config.json gantryd wrote for each variant, with the
# busybox rootfs unpacked, no cgroup path and only the default mounts.
mkdir -p "$work/rootfs"
tar -C "$work/rootfs" -xf "$work/busybox.tar"
for v in default unconfined; do
	# shellcheck disable=SC2046
	id=$(DOCKER_HOST=$H_gantry docker create --network none $(variant_args $v) "$IMG" true)
	DOCKER_HOST=$H_gantry docker start -a "$id"
	mkdir -p "$work/bundle-$v"
	python3 - "$work/gantry/root/containers/$id/bundle/config.json" "$work/bundle-$v/config.json" "$work/rootfs" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"] = {"path": sys.argv[3]}
c["mounts"] = [m for m in c["mounts"] if m["type"] != "bind"]
c["linux"].pop("cgroupsPath", None)
c["linux"]["namespaces"] = [{"type": n["type"]} for n in c["linux"]["namespaces"]]
json.dump(c, open(sys.argv[2], "w"))
PY
	DOCKER_HOST=$H_gantry docker rm "$id" >/dev/null
done
log "$RUNS x runc run of each bundle, alternating"
for i in $(seq "$RUNS"); do
	for v in default unconfined; do
		t=$(now_ns)
		runc --root "$work/runc" run -b "$work/bundle-$v" "bench-$v-$i" >/dev/null
		ms_since "$t" >>"$work/runc.$v"
	done
done

for e in "${engines[@]}"; do
	DOCKER_HOST=$(eval echo "\$H_$e") docker rmi "$IMG" >/dev/null
done

# --- Report --------------------------------------------------------------
cell() { [ -s "$work/$1.$2" ] && $3 "$work/$1.$2" || echo -; }
echo
echo "docker run --rm --network none busybox true, $RUNS runs each ($(nproc) cores; Docker: $docker_note)"
printf '%-34s %10s %10s %10s\n' "measure (ms)" gantry docker g/d
row() { # row LABEL VARIANT STAT
	local g d r
	g=$(cell gantry "$2" "$3")
	d=$(cell docker "$2" "$3")
	r=$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d+0 > 0) printf "%.2f", g/d; else print "-" }')
	printf '%-34s %10s %10s %10s\n' "$1" "$g" "$d" "$r"
}
row "default profile, median" default median
row "default profile, p90" default p90
row "seccomp=unconfined, median" unconfined median
row "seccomp=unconfined, p90" unconfined p90
cost() { # cost ENGINE: median(default) - median(unconfined)
	[ -s "$work/$1.default" ] || { echo -; return; }
	echo $(($(median "$work/$1.default") - $(median "$work/$1.unconfined")))
}
printf '%-34s %10s %10s\n' "filter cost (median difference)" "$(cost gantry)" "$(cost docker)"
echo
echo "runc run alone of gantryd's bundles (runc $(runc --version | awk 'NR==1{print $3}'), $RUNS runs each)"
printf '%-34s %10s %10s\n' "measure (ms)" median p90
printf '%-34s %10s %10s\n' "default profile" "$(median "$work/runc.default")" "$(p90 "$work/runc.default")"
printf '%-34s %10s %10s\n' "seccomp=unconfined" "$(median "$work/runc.unconfined")" "$(p90 "$work/runc.unconfined")"
printf '%-34s %10s\n' "filter cost (median difference)" "$(cost runc)"
