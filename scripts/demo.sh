#!/usr/bin/env bash
# The newcomer's first run of Gantry on a fresh Debian machine (as root):
# installs runc and busybox-static if missing, builds, starts gantryd on a
# private root, imports a busybox base image, runs a container that writes a
# file, commits it with a CMD, runs the new image, and stops the daemon.
set -euo pipefail

cd "$(dirname "$0")/.."
DEMO=${DEMO_ROOT:-/tmp/gantry-demo}

[ "$(id -u)" = 0 ] || { echo "demo: run as root (gantryd mounts overlayfs and runs runc)" >&2; exit 1; }

need=()
command -v runc >/dev/null || need+=(runc)
if ! command -v busybox >/dev/null || ldd "$(command -v busybox)" >/dev/null 2>&1; then
	need+=(busybox-static) # a static busybox: it runs inside the container
fi
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
	echo "demo: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "demo: building"
make build

rm -rf "$DEMO"
mkdir -p "$DEMO"
sock=$DEMO/gantry.sock
bin/gantryd --data-root "$DEMO/root" -H "unix://$sock" --log-level info >"$DEMO/gantryd.log" 2>&1 &
gpid=$!
stop() {
	kill -TERM "$gpid" 2>/dev/null && wait "$gpid" || true
}
trap stop EXIT
for _ in $(seq 100); do
	curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
	kill -0 "$gpid" 2>/dev/null || { cat "$DEMO/gantryd.log" >&2; exit 1; }
	sleep 0.1
done
echo "demo: gantryd is running (pid $gpid, root $DEMO/root, socket $sock)"
g() { echo "+ gantry $*" >&2; bin/gantry -H "unix://$sock" "$@"; }

# A busybox base: the static binary and a symlink per applet.
base=$DEMO/busybox-rootfs
mkdir -p "$base"/{bin,etc,dev,proc,sys,tmp,root,home}
cp "$(command -v busybox)" "$base/bin/busybox"
for a in $("$base/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$base/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$base/etc/group"
tar -C "$base" -cf "$DEMO/busybox.tar" .

g import "$DEMO/busybox.tar" busybox
g images
g run --name demo busybox sh -c 'echo "hello from a committed layer" > /greeting'
g ps -a
g commit -c 'CMD ["cat","/greeting"]' demo demo/greeting:1
g run --rm demo/greeting:1
g rm demo
echo "demo: done; the docker CLI works too: DOCKER_HOST=unix://$sock docker images (while gantryd runs)"
