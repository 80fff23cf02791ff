#!/usr/bin/env bash
# What RUN --mount=type=cache buys through the classic build API (`make
# bench-cachemount`): a real Go module (github.com/klauspost/compress, from
# the host's module cache; no dependencies) built by `docker build` with
# DOCKER_BUILDKIT=0 against gantryd, then rebuilt after a one-line edit of
# one file, REPEAT times, with the Go build cache (GOCACHE) on a cache mount
# and without it. Prints the median rebuild time of each and their ratio.
#
# The base image is busybox plus the host's Go toolchain (its GOROOT), so
# nothing is downloaded. dockerd's classic builder has no cache mounts, so
# there is no Docker column: the comparison is the same Dockerfile with and
# without the mount, on the same gantryd, in one run.
#
# Environment: REPEAT (default 3), GANTRYD (default bin/gantryd), GOMODULE
# (default the newest github.com/klauspost/compress in the module cache).
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
GANTRYD=${GANTRYD:-bin/gantryd}
export DOCKER_CLI_HINTS=false DOCKER_BUILDKIT=0

. bench/lib.sh
bench_init gantry-bench-cachemount docker busybox runc curl go
trap stop_daemons EXIT

goroot=$(go env GOROOT)
modcache=$(go env GOMODCACHE)
module=${GOMODULE:-$(ls -d "$modcache"/github.com/klauspost/compress@* 2>/dev/null | sort -V | tail -1)}
[ -d "$module" ] || die "no github.com/klauspost/compress in $modcache: set GOMODULE to a Go module directory"

start_gantryd
export DOCKER_HOST=$gantry_host DOCKER_CONFIG=$work/docker-config

log "importing busybox + $goroot as gobase"
root=$work/gobase
mkdir -p "$root"/{bin,etc,dev,proc,sys,tmp,root,home,var,usr/local}
cp "$(command -v busybox)" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$(dirname "$goroot")" --exclude="$(basename "$goroot")/test" -cf - "$(basename "$goroot")" | tar -C "$root/usr/local" -xf -
[ "$(basename "$goroot")" = go ] || mv "$root/usr/local/$(basename "$goroot")" "$root/usr/local/go"
tar -C "$root" -cf - . | docker import - gobase:bench >/dev/null
rm -rf "$root"

ctx=$work/ctx
cp -r "$module" "$ctx"
chmod -R u+w "$ctx"
edit=$ctx/zstd/encoder.go
[ -f "$edit" ] || edit=$(find "$ctx" -name '*.go' ! -name '*_test.go' | sort | head -1)

dockerfile() { # MOUNT: the RUN flag, or ""
	cat <<EOF
FROM gobase:bench
ENV PATH=/usr/local/go/bin:/bin GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOCACHE=/root/.cache/go-build
COPY . /src
WORKDIR /src
RUN $1 go build ./...
EOF
}
dockerfile "--mount=type=cache,target=/root/.cache/go-build,id=bench-gocache" >"$work/Dockerfile.mount"
dockerfile "" >"$work/Dockerfile.plain"

build() { # VARIANT: prints the milliseconds
	local t
	t=$(now_ns)
	docker build -q -f "$work/Dockerfile.$1" "$ctx" >/dev/null || die "build ($1) failed"
	ms_since "$t"
}

for v in mount plain; do
	log "$v: first build"
	build "$v" >"$work/first.$v"
	: >"$work/rebuild.$v"
	for i in $(seq "$REPEAT"); do
		echo "// edit $v $i" >>"$edit"
		build "$v" >>"$work/rebuild.$v"
	done
done

m=$(median "$work/rebuild.mount")
p=$(median "$work/rebuild.plain")
echo
echo "Go module $(basename "$module"), go build ./... after a one-line edit of ${edit#"$ctx"/}; gantryd, docker build with DOCKER_BUILDKIT=0, $(nproc) cores"
echo
echo "| build | GOCACHE on a cache mount | without the mount | mount / without |"
echo "| --- | --- | --- | --- |"
printf '| first (cache mount empty) | %d ms | %d ms | %.2f |\n' "$(cat "$work/first.mount")" "$(cat "$work/first.plain")" "$(echo "$(cat "$work/first.mount") $(cat "$work/first.plain")" | awk '{print $1/$2}')"
printf '| rebuild after the edit, median of %d | %d ms | %d ms | %.2f |\n' "$REPEAT" "$m" "$p" "$(echo "$m $p" | awk '{print $1/$2}')"
