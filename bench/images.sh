#!/usr/bin/env bash
# Benchmark of listing and inspecting images in a large store, Gantry
# against Docker 20.10, both driven by the docker CLI (`make bench-images`).
# Prints a table; writes nothing into the tree.
#
#   fill     `docker load -i` of one archive holding IMAGES images (default
#            10000): each its own config (a label with its number) on one
#            shared one-file layer, tagged gantry-bench/images:<n>; timed
#            once, for the record
#   images   `docker images` (the CLI's table of all of them)
#   api      GET /images/json through curl, the daemon alone
#   inspect  `docker image inspect` of one of them
#   cli      `docker version`: the CLI's start and one round trip, the floor
#            under the two docker rows
#   cli floor  `docker images` against bench/staticapi serving the engine's
#            own answers (/_ping's Api-Version, /version, /images/json as
#            recorded from it after the fill) from memory: what the CLI
#            itself costs for that answer (decoding, formatting, printing);
#            `images` less this is the engine's share
#   (REPEAT rounds with the engines taking turns, medians)
#
# It also prints the request line the CLI sent for `docker images` and the
# size of each engine's answer.
#
# Docker's column is a dockerd started for the run (its own data root,
# exec root, socket and pidfile under the scratch directory, in a network
# namespace of its own, --bridge=none --iptables=false), not the shared one,
# so that 10,000 images never land in anyone's store.
#
# Environment: IMAGES (default 10000), REPEAT (default 5); GANTRYD (default
# bin/gantryd) and GANTRYD_EXTRA_ARGS; DOCKERD (default dockerd; "" skips it).
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-10000}
REPEAT=${REPEAT:-5}
GANTRYD=${GANTRYD:-bin/gantryd}
DOCKERD=${DOCKERD-dockerd}
export DOCKER_CLI_HINTS=false

. bench/lib.sh
bench_init gantry-bench-images docker curl python3 go
go build -o "$work/staticapi" ./bench/staticapi || die "go build ./bench/staticapi failed"
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG"
netns=gantry-bench-images-$$
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
layer = tar_of("hello", b"hello from gantry-bench\n")
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
manifest = []
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    add("layer/layer.tar", layer)
    for i in range(n):
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1700000000 + i)) + "Z"
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": created,
                          "config": {"Cmd": ["cat", "/hello"], "Labels": {"gantry.bench.n": str(i)}},
                          "rootfs": {"type": "layers", "diff_ids": [diff]},
                          "history": [{"created": created, "created_by": "bench image %d" % i}]},
                         separators=(",", ":")).encode()
        name = hashlib.sha256(cfg).hexdigest() + ".json"
        add(name, cfg)
        manifest.append({"Config": name, "RepoTags": ["gantry-bench/images:%d" % i], "Layers": ["layer/layer.tar"]})
    add("manifest.json", json.dumps(manifest).encode())
PY

# --- Engines ---------------------------------------------------------------
# Both in a network namespace of their own: one gantryd owns the bridges
# and chains of its namespace.
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
	ms_since "$t" >"$work/$n.fill"
	got=$(DOCKER_HOST=$h docker images -q | wc -l)
	[ "$got" -ge "$IMAGES" ] || die "$n lists $got images after the load, want $IMAGES"
done

# The stand-ins: each engine's answers recorded at the API version the CLI
# negotiates with it (the client's API version `docker version` shows),
# served by bench/staticapi on a socket of its own.
for n in "${engines[@]}"; do
	h=$(eval echo "\$H_$n")
	sock=${h#unix://}
	v=$(DOCKER_HOST=$h docker version -f '{{.Client.APIVersion}}') || die "$n: docker version failed"
	curl -sf --unix-socket "$sock" "http://d/v$v/version" >"$work/$n.version.json" || die "$n: GET /version failed"
	curl -sf --unix-socket "$sock" "http://d/v$v/images/json" >"$work/$n.images.json" || die "$n: GET /images/json failed"
	"$work/staticapi" -sock "$work/$n.static.sock" -api-version "$v" -version "$work/$n.version.json" \
		-images "$work/$n.images.json" -log "$work/$n.static.log" 2>"$work/$n.static.err" &
	pids+=("$!")
	wait_ping "$work/$n.static.sock" "$!" || { cat "$work/$n.static.err" >&2; die "staticapi did not start"; }
	eval "S_$n=unix://$work/$n.static.sock"
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
		DOCKER_HOST=$h timed "$work/$n.images" docker images
		timed "$work/$n.api" curl -sf --unix-socket "$sock" http://d/v1.41/images/json
		DOCKER_HOST=$h timed "$work/$n.inspect" docker image inspect "gantry-bench/images:$((IMAGES / 2))"
		DOCKER_HOST=$h timed "$work/$n.cli" docker version
		DOCKER_HOST=$(eval echo "\$S_$n") timed "$work/$n.floor" docker images
	done
done

printf '\n%d images, %d rounds, medians in ms (Docker: %s)\n\n' "$IMAGES" "$REPEAT" "$docker_note"
printf '%-10s %10s %10s %10s\n' what gantry docker gantry/docker
for what in images api inspect cli floor fill; do
	label=$what
	[ "$what" = floor ] && label="cli floor"
	g=$(median "$work/gantry.$what")
	if [ -f "$work/docker.$what" ]; then
		d=$(median "$work/docker.$what")
		printf '%-10s %10s %10s %10s\n' "$label" "$g" "$d" "$(awk -v g="$g" -v d="$d" 'BEGIN{ if (d > 0) printf "%.2f", g/d; else print "-" }')"
	else
		printf '%-10s %10s %10s %10s\n' "$label" "$g" - -
	fi
done
printf '\n'
for n in "${engines[@]}"; do
	printf '%s: `docker images` sent %s; the answer has %d bytes; the engine'"'"'s share (images - cli floor) %d ms\n' \
		"$n" "$(grep -m1 ' /v[0-9.]*/images/json' "$work/$n.static.log" || echo '?')" "$(wc -c <"$work/$n.images.json")" \
		"$(($(median "$work/$n.images") - $(median "$work/$n.floor")))"
done
