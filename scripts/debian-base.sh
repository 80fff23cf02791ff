#!/usr/bin/env bash
# Prints the path of a Debian bookworm minbase rootfs tar, made with
# mmdebstrap from Debian's mirror on first use and cached (BENCH_CACHE,
# default /var/tmp/gantry-bench). Import it as the debian:bookworm base:
#   gantry import -c 'CMD ["bash"]' "$(scripts/debian-base.sh)" debian:bookworm
# Fails (exit 1, message on stderr) when mmdebstrap or the mirror is missing.
set -euo pipefail

cache=${BENCH_CACHE:-/var/tmp/gantry-bench}/rootfs-170m.tar
if [ ! -s "$cache" ]; then
	command -v mmdebstrap >/dev/null || { echo "debian-base: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
	mkdir -p "$(dirname "$cache")"
	log=$(mktemp)
	if ! mmdebstrap --quiet --variant=minbase bookworm "$cache.tmp.tar" >"$log" 2>&1; then
		echo "debian-base: mmdebstrap failed (is the Debian mirror reachable?):" >&2
		tail -5 "$log" >&2
		rm -f "$cache.tmp.tar" "$log"
		exit 1
	fi
	rm -f "$log"
	mv "$cache.tmp.tar" "$cache"
fi
echo "$cache"
