#!/usr/bin/env bash
# Benchmark of deep images, Gantry against Docker, both driven by the
# docker CLI (`make bench-deep`). Prints a table; writes nothing into the
# tree.
#
#   run      `docker run --rm --network none IMG true` of images of 1, 100
#            and 500 layers (busybox, then layers of one file each), RUNS
#            times each, medians; the extra time over the 1-layer image is
#            what mounting the deeper rootfs costs (Gantry: one overlay
#            through fsconfig lowerdir+, one layer at a time)
#   load     `docker load -i` of the 100- and 500-layer archives (Docker
#            20.10 refuses more than 125 layers: "max depth exceeded")
#   mount    Gantry alone: mount and unmount of a snapshot's rootfs on 1,
#            100 and 500 layers, plain and idmapped (--userns-remap), from
#            `go test ./layer -bench BenchmarkMountDeep`
#
# Both daemons are private, each in a network namespace of its own, on
# data roots under $work: gantryd ($GANTRYD, default bin/gantryd) and, when
# installed, dockerd.
#
# Environment: RUNS (default 20); GANTRYD, GANTRYD_EXTRA_ARGS.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false

. bench/lib.sh
bench_init gantry-bench-deep docker busybox runc curl python3
netns=gantry-bench-deep-$$
cleanup() {
	stop_daemons
	ip netns del "$netns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$netns"

# deep_archive N FILE: a docker save archive (pre-25 format) of bench/deep:N,
# busybox plus N-1 layers of one file each.
deep_archive() {
	python3 - "$1" "$2" "$work/busybox.tar" <<'PY'
import hashlib, io, json, sys, tarfile
n, out, base = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
layers = [base]
for i in range(1, n):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        d = tarfile.TarInfo("deep"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
        body = str(i).encode(); f = tarfile.TarInfo("deep/%d" % i); f.size = len(body); t.addfile(f, io.BytesIO(body))
    layers.append(b.getvalue())
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]}}).encode()
cfgname = hashlib.sha256(cfg).hexdigest() + ".json"
names = ["%d/layer.tar" % i for i in range(n)]
man = json.dumps([{"Config": cfgname, "RepoTags": ["bench/deep:%d" % n], "Layers": names}]).encode()
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("manifest.json", man), (cfgname, cfg)] + list(zip(names, layers)):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
}

# start ENGINE CMD...: starts a daemon in the namespace, sets H_<ENGINE>.
start() {
	local n=$1
	shift
	mkdir -p "$work/$n"
	# nsenter execs the daemon: $! is the daemon (a function would fork).
	nsenter --net="/run/netns/$netns" "$@" >"$work/$n/log" 2>&1 &
	pids+=($!)
	wait_ping "$work/$n/d.sock" "$!" || { tail -20 "$work/$n/log" >&2; die "$n did not start"; }
	eval "H_$n=unix://$work/$n/d.sock"
}

busybox_tar "$work/busybox.tar"
for n in 100 500; do deep_archive "$n" "$work/deep$n.tar"; done

# shellcheck disable=SC2086
start gantry "$GANTRYD" --data-root "$work/gantry/root" --exec-root "$work/gantry/exec" \
	-H "unix://$work/gantry/d.sock" --log-level warn ${GANTRYD_EXTRA_ARGS:-}
engines=(gantry)
docker_note="skipped: dockerd not installed"
if command -v dockerd >/dev/null; then
	start docker dockerd --data-root "$work/docker/root" --exec-root "$work/docker/x" --pidfile "$work/docker/pid" \
		-H "unix://$work/docker/d.sock" --bridge none --iptables=false --log-level warn
	engines+=(docker)
	docker_note="a private dockerd $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}'), overlay2"
fi

# timed FILE CMD...: appends the milliseconds CMD took to FILE; 0 when it
# succeeded, else CMD's status (its stderr into FILE.err).
timed() {
	local f=$1 t
	shift
	t=$(now_ns)
	"$@" >/dev/null 2>"$f.err" || return $?
	ms_since "$t" >>"$f"
}

for e in "${engines[@]}"; do
	export DOCKER_HOST=$(eval echo "\$H_$e")
	docker import "$work/busybox.tar" bench/deep:1 >/dev/null
	for n in 100 500; do
		if ! timed "$work/$e.load$n" docker load -i "$work/deep$n.tar"; then
			log "$e: load of $n layers refused: $(tail -2 "$work/$e.load$n.err" | tr '\n' ' ')"
			echo "refused" >"$work/$e.refused$n"
		fi
	done
done

for n in 1 100 500; do
	for e in "${engines[@]}"; do
		[ -f "$work/$e.refused$n" ] && continue
		export DOCKER_HOST=$(eval echo "\$H_$e")
		docker run --rm --network none "bench/deep:$n" true # warm-up
		log "$e: $RUNS x docker run --rm of $n layers"
		for _ in $(seq "$RUNS"); do timed "$work/$e.run$n" docker run --rm --network none "bench/deep:$n" true; done
	done
done

# --- Report ----------------------------------------------------------------
cell() { # cell ENGINE MEASURE: median ms, "refused" or "-"
	if [ -f "$work/$1.$2" ]; then echo "$(median "$work/$1.$2") ms"
	elif [ -f "$work/$1.refused${2//[a-z]/}" ]; then echo refused
	else echo -; fi
}
extra() { # extra ENGINE N: median run of N layers minus that of 1 layer
	[ -f "$work/$1.run$2" ] || { echo -; return; }
	echo "$(( $(median "$work/$1.run$2") - $(median "$work/$1.run1") )) ms"
}
echo
echo "Gantry vs Docker, deep images ($(nproc) cores, kernel $(uname -r); Docker: $docker_note)"
printf '%-52s %12s %12s\n' "measure" "gantry" "docker"
for n in 1 100 500; do
	printf '%-52s %12s %12s\n' "docker run --rm true, $n layers, median of $RUNS" "$(cell gantry run$n)" "$(cell docker run$n)"
done
for n in 100 500; do
	printf '%-52s %12s %12s\n' "  extra over 1 layer (mounting $n layers)" "$(extra gantry $n)" "$(extra docker $n)"
done
for n in 100 500; do
	printf '%-52s %12s %12s\n' "docker load -i, $n layers" "$(cell gantry load$n)" "$(cell docker load$n)"
done

if command -v go >/dev/null; then
	echo
	echo "Gantry: mount + unmount of a snapshot's rootfs (go test ./layer -bench BenchmarkMountDeep -benchtime 50x)"
	go test ./layer -run '^$' -bench BenchmarkMountDeep -benchtime 50x 2>/dev/null |
		awk '/^BenchmarkMountDeep/ { sub(/^BenchmarkMountDeep\//, "", $1); sub(/-[0-9]+$/, "", $1); printf "  %-28s %8.2f ms\n", $1, $3 / 1e6 }'
fi
