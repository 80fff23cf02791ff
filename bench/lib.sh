# Shared by bench/run.sh and bench/build.sh (sourced from the repository
# root): messages, timing, the busybox base, the daemons' lifecycle.

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# median FILE / p90 FILE: of one number a line.
median() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
p90() { sort -n "$1" | awk '{a[NR]=$1} END{i=int(NR*0.9+0.999); if(i<1)i=1; print a[i]}'; }

# bench_init NAME TOOL...: checks root, $GANTRYD and the tools, then makes
# the scratch directory $work (under $BENCH_TMP, default /tmp) and the list
# $pids of daemons to stop at the end.
bench_init() {
	local name=$1 p
	shift
	[ "$(id -u)" = 0 ] || die "needs root (gantryd mounts overlayfs and runs runc)"
	[ -x "$GANTRYD" ] || die "$GANTRYD not found: run make build first"
	for p in "$@"; do
		command -v "$p" >/dev/null || die "$p not found (apt-get install docker.io, busybox-static, runc, curl)"
	done
	work=$(mktemp -d "${BENCH_TMP:-/tmp}/$name.XXXXXX")
	pids=()
}

# stop_daemons: the end of both scripts' EXIT traps: SIGTERM the daemons
# they started (SIGKILL after 10 s), undo mounts left under $work, remove it.
stop_daemons() {
	local pid m
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	{ grep -o " $work[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work" || true
}

# start_gantryd: starts $GANTRYD (with $GANTRYD_EXTRA_ARGS) on a data root,
# exec root and socket under $work/gantry; sets $gantry_pid and
# $gantry_host (its DOCKER_HOST).
start_gantryd() {
	mkdir -p "$work/gantry"
	# shellcheck disable=SC2086
	"$GANTRYD" --data-root "$work/gantry/root" --exec-root "$work/gantry/exec" -H "unix://$work/gantry/d.sock" \
		--log-level warn ${GANTRYD_EXTRA_ARGS:-} >"$work/gantry/log" 2>&1 &
	gantry_pid=$!
	pids+=("$gantry_pid")
	wait_ping "$work/gantry/d.sock" "$gantry_pid" || { tail -20 "$work/gantry/log" >&2; die "gantryd did not start"; }
	gantry_host=unix://$work/gantry/d.sock
}

# find_engines: the engines to compare: gantry, and docker when a dockerd
# answers at /var/run/docker.sock; sets $engines, $H_gantry, $H_docker and
# $docker_note (what the tables say of Docker).
find_engines() {
	engines=(gantry)
	H_gantry=$gantry_host
	docker_note="skipped: no dockerd at /var/run/docker.sock"
	if DOCKER_HOST=unix:///var/run/docker.sock docker version >/dev/null 2>&1; then
		engines+=(docker)
		H_docker=unix:///var/run/docker.sock
		docker_note="the running dockerd at /var/run/docker.sock, $(DOCKER_HOST=$H_docker docker version -f '{{.Server.Version}}')"
	fi
}

# wait_ping SOCKET PID: waits until the daemon answers, or fails when PID dies.
wait_ping() {
	for _ in $(seq 300); do
		curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# busybox_tar FILE: a rootfs with busybox and a symlink per applet.
busybox_tar() {
	local root=$work/bbroot a
	mkdir -p "$root"/{bin,etc,dev,proc,sys,tmp,root,home,var}
	cp "$(command -v busybox)" "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	chmod 1777 "$root/tmp"
	tar -C "$root" -cf "$1" .
}
