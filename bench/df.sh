#!/usr/bin/env bash
# Benchmark of `docker system df` on a store with many images and
# containers, Gantry against Docker 20.10, both driven by the docker CLI
# (`make bench-df`). Prints a table; writes nothing into the tree.
#
#   fill     `docker load -i` of one archive holding IMAGES images (default
#            1000), each a shared base layer plus a one-file layer of its
#            own (so shared and unique sizes differ), then CONTAINERS
#            containers (default 200) created from them, each given a file
#            with `docker cp` (so SizeRw is not 0); timed once, for the record
#   df       `docker system df` (the CLI's summary table)
#   df-v     `docker system df -v` (every image, container, volume)
#   api      GET /system/df through curl, the daemon alone
#   cli      `docker version`: the CLI's start and one round trip, the floor
#            under the docker rows
#   (REPEAT rounds with the engines taking turns, medians)
#
# Docker's column is a dockerd started for the run (its own data root,
# exec root, socket and pidfile under the scratch directory, in a network
# namespace of its own, --bridge=none --iptables=false).
#
# Environment: IMAGES (default 1000), CONTAINERS (default 200), REPEAT
# (default 5); GANTRYD (default bin/gantryd) and GANTRYD_EXTRA_ARGS;
# DOCKERD (default dockerd; "" skips it).
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-1000}
CONTAINERS=${CONTAINERS:-200}
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
DOCKERD=${DOCKERD-dockerd}
export DOCKER_CLI_HINTS=false

. bench/lib.sh
bench_init gantry-bench-df docker curl python3
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"
netns=gantry-bench-df-$$
cleanup() {
	stop_daemons
	ip netns del "$netns" 2>/dev/null || true
}
trap cleanup EXIT

# --- The archive -----------------------------------------------------------
python3 - "$work/images.tar" "$IMAGES" <<'PY'
import hashlib, io, json, sys, tarfile, time
out, n = sys.argv[1], int(sys.argv[2])
def tar_of(name, data):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    return b.getvalue()
base = tar_of("base", b"base layer shared by every image\n" * 1000)
base_diff = "sha256:" + hashlib.sha256(base).hexdigest()
manifest = []
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    add("base/layer.tar", base)
    for i in range(n):
        own = tar_of("own", (b"image %d\n" % i) * (1 + i % 50))
        own_diff = "sha256:" + hashlib.sha256(own).hexdigest()
        add("own%d/layer.tar" % i, own)
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1700000000 + i)) + "Z"
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": created,
                          "config": {"Cmd": ["cat", "/own"], "Labels": {"gantry.bench.n": str(i)}},
                          "rootfs": {"type": "layers", "diff_ids": [base_diff, own_diff]},
                          "history": [{"created": created, "created_by": "base"}, {"created": created, "created_by": "bench image %d" % i}]},
                         separators=(",", ":")).encode()
        name = hashlib.sha256(cfg).hexdigest() + ".json"
        add(name, cfg)
        manifest.append({"Config": name, "RepoTags": ["gantry-bench/df:%d" % i], "Layers": ["base/layer.tar", "own%d/layer.tar" % i]})
    add("manifest.json", json.dumps(manifest).encode())
PY
head -c 4096 /dev/urandom >"$work/file"

# --- Engines ---------------------------------------------------------------
ip netns add "$netns"
mkdir -p "$work/gantry"
# shellcheck disable=SC2086
nsenter --net="/run/netns/$netns" "$GANTRYD" --data-root "$work/gantry/root" --exec-root "$work/gantry/exec" \
	-H "unix://$work/gantry/d.sock" --log-level warn ${GANTRYD_EXTRA_ARGS:-} >"$work/gantry/log" 2>&1 &
pids+=("$!")
wait_ping "$work/gantry/d.sock" "$!" || { tail -20 "$work/gantry/log" >&2; die "gantryd did not start"; }
engines=(gantry)
H_gantry=unix://$work/gantry/d.sock
docker_note="skipped (DOCKERD is empty)"
if [ -n "$DOCKERD" ]; then
	command -v "$DOCKERD" >/dev/null || die "$DOCKERD not found (apt-get install docker.io)"
	mkdir -p "$work/docker"
	nsenter --net="/run/netns/$netns" "$DOCKERD" --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
		-H "unix://$work/docker/d.sock" --pidfile "$work/docker/pid" --bridge=none --iptables=false \
		--log-level warn >"$work/docker/log" 2>&1 &
	pids+=("$!")
	wait_ping "$work/docker/d.sock" "$!" || { tail -20 "$work/docker/log" >&2; die "dockerd did not start"; }
	engines+=(docker)
	H_docker=unix://$work/docker/d.sock
	docker_note="dockerd $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}'), started for the run"
fi

for n in "${engines[@]}"; do
	h=$(eval echo "\$H_$n")
	t=$(now_ns)
	DOCKER_HOST=$h docker load -q -i "$work/images.tar" >/dev/null || die "$n: docker load failed"
	for i in $(seq 0 $((CONTAINERS - 1))); do
		c=$(DOCKER_HOST=$h docker create --network none "gantry-bench/df:$((i * IMAGES / CONTAINERS))") || die "$n: create failed"
		DOCKER_HOST=$h docker cp "$work/file" "$c:/data" || die "$n: cp failed"
	done
	ms_since "$t" >"$work/$n.fill"
	got=$(DOCKER_HOST=$h docker ps -aq | wc -l)
	[ "$got" -eq "$CONTAINERS" ] || die "$n lists $got containers, want $CONTAINERS"
	log "$n: $(DOCKER_HOST=$h docker system df | tr -s ' ' | paste -sd';')"
done

# timed FILE CMD...: appends the milliseconds CMD took to FILE.
timed() {
	local f=$1 t
	shift
	t=$(now_ns)
	"$@" >/dev/null || die "$* failed"
	ms_since "$t" >>"$f"
}

for _ in $(seq "$REPEAT"); do
	for n in "${engines[@]}"; do
		h=$(eval echo "\$H_$n")
		sock=${h#unix://}
		DOCKER_HOST=$h timed "$work/$n.df" docker system df
		DOCKER_HOST=$h timed "$work/$n.df-v" docker system df -v
		timed "$work/$n.api" curl -sf --unix-socket "$sock" http://d/v1.41/system/df
		DOCKER_HOST=$h timed "$work/$n.cli" docker version
	done
done

printf '\n%d images, %d containers, %d rounds, medians in ms (Docker: %s)\n\n' "$IMAGES" "$CONTAINERS" "$REPEAT" "$docker_note"
printf '%-10s %10s %10s %10s\n' what gantry docker gantry/docker
for what in df df-v api cli fill; do
	g=$(median "$work/gantry.$what")
	if [ -f "$work/docker.$what" ]; then
		d=$(median "$work/docker.$what")
		printf '%-10s %10s %10s %10s\n' "$what" "$g" "$d" "$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')"
	else
		printf '%-10s %10s %10s %10s\n' "$what" "$g" - -
	fi
done
