#!/usr/bin/env bash
# Runs critest, the CRI validation suite of sigs.k8s.io/cri-tools, against a
# fresh gantryd's CRI socket, or with --containerd against a fresh
# containerd (Debian's, CRI plugin), configured alike: the same CNI
# configuration (Debian's containernetworking-plugins: bridge, host-local,
# portmap) and the same registry mirrors (containerd's hosts.toml).
#
#   scripts/critest.sh [--containerd] [critest flags, e.g. --ginkgo.focus=Image]
#   scripts/critest.sh --kubelet [--containerd]
#   scripts/critest.sh --bench [cribench flags]   (bench/cri.sh)
#
# --kubelet builds the kubelet of k8s.io/kubernetes v1.37.2 (staging modules
# pinned at v0.37.2; once, cached) and runs it in standalone mode (no API
# server) on the runtime with a static pod of two containers (a port, a
# readiness probe), kills one and checks that the kubelet restarts it.
# --bench starts gantryd and containerd side by side and runs bench/cribench.
#
# critest and crictl are built at a pinned version (module proxy) and cached
# under ~/.cache/gantry-tools. critest pulls images from registry.k8s.io,
# gcr.io and k8s.gcr.io, which this machine cannot reach: the images it asks
# for are built here from local bases (Debian's busybox; nginx from Debian
# with mmdebstrap; both cached), stand-ins that behave as critest expects (see
# build_images), and pushed under the same names to a docker-registry that
# every runtime reaches through hosts.toml mirrors. The runtime, the
# registry and critest share a network namespace of their own; everything
# lives under a temporary directory, removed at the end (CRITEST_KEEP=1
# keeps it). The run ends with critest's own summary line; its JSON report
# and a list of spec outcomes go to CRITEST_OUT (default
# /var/tmp/gantry-critest/<runtime>.{json,tsv}), and after a gantry run the
# specs containerd passes and gantry does not are listed.
#
# gantryd is bin/gantryd (make build), or GANTRYD.
set -euo pipefail

version=v1.37.0
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${XDG_CACHE_HOME:-$HOME/.cache}/gantry-tools/cri-tools-$version
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gantry-tools/critest
out=${CRITEST_OUT:-/var/tmp/gantry-critest}
port=5000 # of the registry, inside the namespace
reg=127.0.0.1:$port

# The registries critest pulls from; each gets a hosts.toml pointing at the
# local registry.
registries=(registry.k8s.io k8s.gcr.io gcr.io docker.io)

log() { echo "critest.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# need installs the Debian packages that provide the commands or files
# named (cmd:package or /path:package), retrying while dpkg is locked.
need() {
	local missing=() item what pkg
	for item in "$@"; do
		what=${item%%:*} pkg=${item#*:}
		if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
		missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "installing ${missing[*]}"
	for _ in 1 2 3 4 5 6; do
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; then return; fi
		sleep 10
	done
	die "apt-get install ${missing[*]} failed"
}

# build_tools builds critest (a Ginkgo test binary: go test -c in the
# module's source) and crictl at $version, unless cached.
build_tools() {
	if [ -x "$tools/critest" ] && [ -x "$tools/crictl" ] && [ "$(cat "$tools/.version" 2>/dev/null)" = "$version" ]; then
		return
	fi
	log "building critest and crictl $version"
	mkdir -p "$tools"
	local src
	src=$(go mod download -json "sigs.k8s.io/cri-tools@$version" | jq -r .Dir)
	[ -d "$src" ] || die "go mod download sigs.k8s.io/cri-tools@$version failed"
	(cd "$src" && CGO_ENABLED=0 go test -c -o "$tools/critest.tmp" ./cmd/critest)
	GOBIN=$tools CGO_ENABLED=0 go install "sigs.k8s.io/cri-tools/cmd/crictl@$version"
	mv "$tools/critest.tmp" "$tools/critest"
	echo "$version" >"$tools/.version"
}

# build_kubelet builds the kubelet of k8s.io/kubernetes $kube_version in a
# scratch module of its own (every k8s.io staging module pinned at
# $staging_version with replace directives), unless cached.
kube_version=v1.37.2
staging_version=v0.37.2
kubelet_dir=${XDG_CACHE_HOME:-$HOME/.cache}/gantry-tools/kubelet-$kube_version
build_kubelet() {
	if [ -x "$kubelet_dir/kubelet" ] && [ "$(cat "$kubelet_dir/.version" 2>/dev/null)" = "$kube_version" ]; then
		return
	fi
	log "building the kubelet $kube_version (once; long)"
	mkdir -p "$kubelet_dir"
	local mod
	mod=$(go mod download -json "k8s.io/kubernetes@$kube_version" | jq -r .GoMod)
	[ -s "$mod" ] || die "go mod download k8s.io/kubernetes@$kube_version failed"
	{
		printf 'module kubeletbuild\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$kube_version"
		awk -v v="$staging_version" '/=> \.\/staging\/src\//{print "\t" $1 " => " $1 " " v}' "$mod"
		printf ')\n'
	} >"$kubelet_dir/go.mod"
	printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kubelet/app"\n\nfunc main() {}\n' >"$kubelet_dir/tools.go"
	(cd "$kubelet_dir" && go mod tidy && CGO_ENABLED=0 go build -p 1 -o kubelet.tmp \
		-ldflags "-X k8s.io/component-base/version.gitVersion=$kube_version" k8s.io/kubernetes/cmd/kubelet)
	mv "$kubelet_dir/kubelet.tmp" "$kubelet_dir/kubelet"
	echo "$kube_version" >"$kubelet_dir/.version"
}

# nginx_rootfs is a Debian bookworm rootfs tar with nginx, made once with
# mmdebstrap (it needs Debian's mirror) and cached.
nginx_rootfs() {
	local tar=$cache/nginx-bookworm.tar
	if [ ! -s "$tar" ]; then
		log "making the nginx rootfs with mmdebstrap (once)"
		mkdir -p "$cache"
		mmdebstrap --quiet --variant=minbase --include=nginx-light,procps bookworm "$tar.tmp.tar" >&2 ||
			die "mmdebstrap failed (is Debian's mirror reachable?)"
		mv "$tar.tmp.tar" "$tar"
	fi
	echo "$tar"
}

# ---- images -----------------------------------------------------------

# tar_dir makes a reproducible layer tar of a directory (file owners kept).
tar_dir() {
	tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$1" -cf "$2" .
}

# push_blob uploads a file as a blob of repo unless the registry has it.
push_blob() {
	local repo=$1 file=$2 digest=$3 loc sep
	curl -fsI "http://$reg/v2/$repo/blobs/$digest" >/dev/null 2>&1 && return
	loc=$(curl -fsS -X POST -D - -o /dev/null "http://$reg/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[[ $loc == http* ]] || loc=http://$reg$loc
	sep='?'
	[[ $loc == *\?* ]] && sep='&'
	curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$file" "$loc${sep}digest=$digest" >/dev/null
}

# mkimage NAME:TAG... -- CONFIG LAYER.tar...: an OCI image of the layers
# (gzipped) with the container config CONFIG (JSON), pushed to the local
# registry under each name (registry host dropped: the mirror serves them
# all), one name per tag. The same input gives the same digest.
mkimage() {
	local names=() config layers=() l gz diffids=() descs=() n
	while [ "$1" != -- ]; do
		names+=("$1")
		shift
	done
	shift
	config=$1
	shift
	layers=("$@")
	local blobs=$work/blobs
	mkdir -p "$blobs"
	for l in "${layers[@]}"; do
		diffids+=("\"sha256:$(sha256sum "$l" | cut -d' ' -f1)\"")
		gz=$blobs/$(basename "$l").gz
		[ -s "$gz" ] || gzip -n -c "$l" >"$gz"
		descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$(sha256sum "$gz" | cut -d' ' -f1)\",\"size\":$(stat -c %s "$gz")}")
	done
	local cfg=$blobs/config.json man=$blobs/manifest.json
	printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$config" "$(
			IFS=,
			echo "${diffids[*]}"
		)" >"$cfg"
	local cfgd
	cfgd=sha256:$(sha256sum "$cfg" | cut -d' ' -f1)
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$cfgd" "$(stat -c %s "$cfg")" "$(
			IFS=,
			echo "${descs[*]}"
		)" >"$man"
	for n in "${names[@]}"; do
		local path=${n#*/} # drop the registry host
		local repo=${path%:*} tag=${path##*:}
		local i=0
		for l in "${layers[@]}"; do
			push_blob "$repo" "$blobs/$(basename "$l").gz" "$(echo "${descs[$i]}" | jq -r .digest)"
			i=$((i + 1))
		done
		push_blob "$repo" "$cfg" "$cfgd"
		curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$man" \
			"http://$reg/v2/$repo/manifests/$tag" >/dev/null || die "push of $n failed"
	done
}

# busybox_bin is Debian's dynamically linked busybox, from its package
# (downloaded once, not installed: it conflicts with busybox-static). Not
# busybox-static's: that one's sh runs applets without exec'ing them, so
# masking /bin/ls would not stop sh -c ls as critest expects.
busybox_bin() {
	local dir=$cache/busybox
	if [ ! -x "$dir/bin/busybox" ]; then
		log "downloading Debian's busybox package (once)"
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download -q busybox >/dev/null 2>&1) || die "apt-get download busybox failed"
		mkdir -p "$dir"
		dpkg-deb -x "$tmp"/busybox_*.deb "$tmp/x"
		mkdir -p "$dir/bin"
		cp "$tmp/x/bin/busybox" "$dir/bin/busybox.tmp"
		mv "$dir/bin/busybox.tmp" "$dir/bin/busybox"
		rm -rf "$tmp"
	fi
	echo "$dir/bin/busybox"
}

# busybox_applets installs busybox in dir with its applets as hard links
# (as the busybox image has them: masking one applet's path masks that
# applet only), under the relative paths busybox lists, or all in dir/bin
# when flat is given.
busybox_applets() {
	local d=$1 flat=${2:-} a bb
	bb=$(busybox_bin)
	mkdir -p "$d/bin"
	cp "$bb" "$d/bin/busybox"
	for a in $("$bb" --list-full); do
		[ -n "$flat" ] && a=bin/${a##*/}
		[ "$a" = bin/busybox ] && continue
		mkdir -p "$d/$(dirname "$a")"
		ln -f "$d/bin/busybox" "$d/$a"
	done
}

# copy_libs copies into a rootfs the shared libraries programs load.
copy_libs() {
	local d=$1 f
	shift
	for f in $(ldd "$@" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
		mkdir -p "$d$(dirname "$f")"
		cp -L "$f" "$d$f"
	done
}

# busybox_root makes a busybox rootfs directory as the busybox images have
# it: busybox with its applets, and the users and groups of the
# busybox image (www-data is 33).
busybox_root() {
	local d=$1
	mkdir -p "$d/etc" "$d/tmp" "$d/root" "$d/var/www" "$d/home"
	chmod 1777 "$d/tmp"
	busybox_applets "$d"
	# Tools critest runs that Debian's busybox lacks: Debian's own.
	cp "$(command -v pgrep)" "$(command -v ipcs)" "$d/usr/bin/"
	copy_libs "$d" "$(busybox_bin)" "$d/usr/bin/pgrep" "$d/usr/bin/ipcs"
	cat >"$d/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		bin:x:2:2:bin:/bin:/bin/false
		sys:x:3:3:sys:/dev:/bin/false
		sync:x:4:100:sync:/bin:/bin/sync
		mail:x:8:8:mail:/var/spool/mail:/bin/false
		www-data:x:33:33:www-data:/var/www:/bin/false
		operator:x:37:37:Operator:/var:/bin/false
		nobody:x:65534:65534:nobody:/home:/bin/false
	EOF
	cat >"$d/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		bin:x:2:
		sys:x:3:
		adm:x:4:
		tty:x:5:
		disk:x:6:
		lp:x:7:
		mail:x:8:
		kmem:x:9:
		wheel:x:10:root
		cdrom:x:11:
		dialout:x:18:
		floppy:x:19:
		video:x:28:
		audio:x:29:
		tape:x:32:
		www-data:x:33:
		operator:x:37:
		utmp:x:43:
		plugdev:x:46:
		staff:x:50:
		lock:x:54:
		netdev:x:82:
		users:x:100:
		nogroup:x:65534:
	EOF
}

# build_images builds every image critest v1.37 names (pkg/validate,
# pkg/framework) and pushes it to the local registry.
build_images() {
	local l=$work/layers
	mkdir -p "$l"
	local sh='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'

	# pause: the sandbox image (scripts/critest/pause.go).
	mkdir -p "$l/pause"
	cp "$work/pause" "$l/pause/pause"
	tar_dir "$l/pause" "$l/pause.tar"
	# One image per version, as upstream: critest counts the tags of
	# pause:3.9, and containerd pulls 3.10 as its sandbox image.
	local v
	for v in 3.10 3.9 3.8 3.6; do
		mkimage "registry.k8s.io/pause:$v" -- "{\"Entrypoint\":[\"/pause\"],\"User\":\"65535:65535\",\"Labels\":{\"version\":\"$v\"}}" "$l/pause.tar"
	done

	# busybox: the default test image, and the base of most others.
	busybox_root "$l/busybox"
	tar_dir "$l/busybox" "$l/busybox.tar"
	mkimage registry.k8s.io/e2e-test-images/busybox:1.29-2 -- "{$sh,\"Cmd\":[\"sh\"]}" "$l/busybox.tar"

	# Images told apart by a file named after them (cri-tools' images/image-test).
	local name
	for name in test-image-1 test-image-2 test-image-3 test-image-latest test-image-digest; do
		mkdir -p "$l/$name"
		touch "$l/$name/$name"
		tar_dir "$l/$name" "$l/$name.tar"
		mkimage "gcr.io/k8s-staging-cri-tools/$name:latest" -- "{$sh,\"Cmd\":[\"sh\"]}" "$l/busybox.tar" "$l/$name.tar"
	done
	for name in test all; do
		mkdir -p "$l/tag-$name"
		touch "$l/tag-$name/$name"
		tar_dir "$l/tag-$name" "$l/tag-$name.tar"
		mkimage "gcr.io/k8s-staging-cri-tools/test-image-tag:$name" -- "{$sh,\"Cmd\":[\"sh\"]}" "$l/busybox.tar" "$l/tag-$name.tar"
	done
	mkdir -p "$l/same-image"
	touch "$l/same-image/same-image"
	tar_dir "$l/same-image" "$l/same-image.tar"
	mkimage gcr.io/k8s-staging-cri-tools/test-image-tags:1 gcr.io/k8s-staging-cri-tools/test-image-tags:2 \
		gcr.io/k8s-staging-cri-tools/test-image-tags:3 -- "{$sh,\"Cmd\":[\"sh\"]}" "$l/busybox.tar" "$l/same-image.tar"

	# Images with a USER (cri-tools' images/image-user).
	local user
	for user in test-image-user-uid=1002 test-image-user-username=www-data test-image-user-uid-group=1003:1004 \
		test-image-user-username-group=www-data:1004; do
		mkimage "gcr.io/k8s-staging-cri-tools/${user%%=*}:latest" -- "{$sh,\"Cmd\":[\"sh\"],\"User\":\"${user#*=}\"}" "$l/busybox.tar"
	done
	# default-user (1000) in group-defined-in-image (50000)
	# (cri-tools' images/image-predefined-group).
	mkdir -p "$l/predefined/etc" "$l/predefined/home/default-user"
	cp "$l/busybox/etc/passwd" "$l/busybox/etc/group" "$l/predefined/etc/"
	echo 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh' >>"$l/predefined/etc/passwd"
	printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$l/predefined/etc/group"
	chown 1000:1000 "$l/predefined/home/default-user"
	tar_dir "$l/predefined" "$l/predefined.tar"
	mkimage gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest -- "{$sh,\"Cmd\":[\"sh\"],\"User\":\"1000\"}" \
		"$l/busybox.tar" "$l/predefined.tar"

	# nonewprivs: a setuid-root program that prints its effective uid
	# (scripts/critest/nnp.go).
	mkdir -p "$l/nnp/usr/local/bin"
	install -m 4755 -o 0 -g 0 "$work/nnp" "$l/nnp/usr/local/bin/nnp"
	tar_dir "$l/nnp" "$l/nnp.tar"
	mkimage registry.k8s.io/e2e-test-images/nonewprivs:1.3 -- "{$sh,\"Cmd\":[\"/usr/local/bin/nnp\"]}" "$l/busybox.tar" "$l/nnp.tar"

	# httpd: busybox's httpd on port 80, saying so on stdout (critest reads
	# "httpd" in its log).
	mkdir -p "$l/httpd/usr/local/bin" "$l/httpd/var/www"
	echo '<html><body>It works!</body></html>' >"$l/httpd/var/www/index.html"
	printf '#!/bin/sh\necho "httpd: serving /var/www on port 80"\nexec httpd -f -v -p 80 -h /var/www\n' >"$l/httpd/usr/local/bin/httpd-foreground"
	chmod 755 "$l/httpd/usr/local/bin/httpd-foreground"
	tar_dir "$l/httpd" "$l/httpd.tar"
	mkimage registry.k8s.io/e2e-test-images/httpd:2.4.39-4 -- "{$sh,\"Cmd\":[\"httpd-foreground\"],\"ExposedPorts\":{\"80/tcp\":{}}}" \
		"$l/busybox.tar" "$l/httpd.tar"

	# nginx: Debian's, in the foreground, its pid in /var/run/nginx.pid;
	# hostnet-nginx the same on port 12003.
	local nginx
	nginx=$(nginx_rootfs)
	local ncmd='"Cmd":["nginx","-g","daemon off;"],"StopSignal":"SIGQUIT"'
	# The e2e nginx image is Alpine's: busybox tools come first in PATH
	# (critest greps /proc/1/cmdline, where GNU grep says "binary file
	# matches" on stderr).
	busybox_applets "$l/nginx-busybox/usr/local" flat
	tar_dir "$l/nginx-busybox" "$l/nginx-busybox.tar"
	mkimage registry.k8s.io/e2e-test-images/nginx:1.14-2 -- "{$sh,$ncmd,\"ExposedPorts\":{\"80/tcp\":{}}}" "$nginx" "$l/nginx-busybox.tar"
	mkdir -p "$l/hostnet/etc/nginx/sites-enabled"
	printf 'server {\n\tlisten 12003;\n\troot /var/www/html;\n\tindex index.html index.nginx-debian.html;\n}\n' >"$l/hostnet/etc/nginx/sites-enabled/default"
	tar_dir "$l/hostnet" "$l/hostnet.tar"
	mkimage gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64:latest -- "{$sh,$ncmd,\"ExposedPorts\":{\"12003/tcp\":{}}}" \
		"$nginx" "$l/nginx-busybox.tar" "$l/hostnet.tar"
}

# ---- runtimes ---------------------------------------------------------

write_hosts() {
	local r
	for r in "${registries[@]}"; do
		mkdir -p "$work/certs.d/$r"
		cat >"$work/certs.d/$r/hosts.toml" <<-EOF
			server = "https://$r"

			[host."http://$reg"]
			  capabilities = ["pull", "resolve"]
		EOF
	done
}

# write_cni writes the CNI configuration of one runtime: a bridge and
# host-local addresses of its own (two runtimes may share the namespace).
write_cni() {
	local name=$1 bridge=$2 subnet=$3 d=$work/cni/$1
	mkdir -p "$d/net.d" "$d/ipam" "$d/cache"
	cat >"$d/net.d/10-critest.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "critest-$name",
		  "plugins": [
		    {
		      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
		      "ipam": {"type": "host-local", "dataDir": "$d/ipam",
		               "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	EOF
}

# start_RUNTIME starts a runtime in the background: its PID in pids[NAME],
# its CRI socket in socks[NAME], its log in $work/NAME.log.
declare -A pids socks

start_containerd() {
	local c=$work/containerd
	write_cni containerd cni-ctd0 10.89.0.0/16
	mkdir -p "$c"
	cat >"$c/config.toml" <<-EOF
		version = 2
		root = "$c/root"
		state = "$c/state"
		[grpc]
		  address = "$c/containerd.sock"
		[ttrpc]
		  address = "$c/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "registry.k8s.io/pause:3.10"
		  # This machine's processes may not lower their oom_score_adj
		  # (runc: "failed to update /proc/self/oom_score_adj").
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$work/cni/containerd/net.d"
		  [plugins."io.containerd.grpc.v1.cri".registry]
		    config_path = "$work/certs.d"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
	EOF
	containerd --config "$c/config.toml" >"$work/containerd.log" 2>&1 &
	pids[containerd]=$!
	socks[containerd]=$c/containerd.sock
}

start_gantry() {
	local bin=${GANTRYD:-$repo/bin/gantryd} g=$work/gantry
	[ -x "$bin" ] || die "$bin not found: run make build"
	write_cni gantry cni-gantry0 10.88.0.0/16
	local help
	help=$("$bin" --help 2>&1)
	grep -q -- --cri-socket <<<"$help" || die "$bin has no --cri-socket: it serves no CRI"
	local args=(--data-root "$g/root" --exec-root "$g/run" -H "unix://$g/gantry.sock" --pidfile "$g/gantryd.pid"
		--cri-socket "$g/cri.sock" --registry-certs-dir "$work/certs.d")
	if grep -q -- --cni-conf-dir <<<"$help"; then
		args+=(--cni-conf-dir "$work/cni/gantry/net.d")
	else
		die "$bin has no --cni-conf-dir: cannot point it at this run's CNI configuration"
	fi
	if grep -q -- --cni-bin-dir <<<"$help"; then args+=(--cni-bin-dir /usr/lib/cni); fi
	if grep -q -- --cni-cache-dir <<<"$help"; then args+=(--cni-cache-dir "$work/cni/gantry/cache"); fi
	mkdir -p "$g"
	"$bin" "${args[@]}" >"$work/gantry.log" 2>&1 &
	pids[gantry]=$!
	socks[gantry]=$g/cri.sock
}

crictl() {
	"$tools/crictl" --runtime-endpoint "unix://$1" --image-endpoint "unix://$1" "${@:2}"
}

# wait_runtime waits until runtime NAME answers on its socket.
wait_runtime() {
	local name=$1 i
	for i in $(seq 1 300); do
		if [ -S "${socks[$name]}" ] && crictl "${socks[$name]}" version >/dev/null 2>&1; then
			return
		fi
		kill -0 "${pids[$name]}" 2>/dev/null || {
			tail -20 "$work/$name.log" >&2
			die "$name exited"
		}
		sleep 0.1
	done
	tail -20 "$work/$name.log" >&2
	die "$name did not answer on ${socks[$name]} within 30s"
}

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid"
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# ---- the kubelet ------------------------------------------------------

# pods_json prints the kubelet's pods (its read-only port).
pods_json() { curl -fsS http://127.0.0.1:10255/pods; }

# container_field POD CONTAINER JQ-EXPR prints a field of a container's
# status as the kubelet reports it.
container_field() {
	pods_json 2>/dev/null | jq -r --arg p "$1" --arg c "$2" \
		".items[] | select(.metadata.name | startswith(\$p)) | .status.containerStatuses[]? | select(.name == \$c) | $3" 2>/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for i in $(seq 1 $((secs * 2))); do
		"$@" && {
			log "$what: yes (after ${i}/2 s)"
			return 0
		}
		if [ -n "${pids[kubelet]:-}" ] && ! kill -0 "${pids[kubelet]}" 2>/dev/null; then
			log "$what: no, the kubelet exited"
			return 1
		fi
		sleep 0.5
	done
	log "$what: no, after $secs s"
	return 1
}

# run_kubelet runs a kubelet in standalone mode (no API server) on the
# runtime's CRI socket, with a static pod of two containers (nginx with a
# port and a readiness probe, and a busybox sidecar), waits until the
# kubelet reports both ready, kills the nginx container (SIGKILL to every
# process of its cgroup) and waits until the kubelet has restarted it.
run_kubelet() {
	local runtime=$1 sock=$2 k=$work/kubelet
	mkdir -p "$k/manifests" "$k/root" "$k/logs"
	cat >"$k/config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		staticPodPath: $k/manifests
		fileCheckFrequency: 2s
		syncFrequency: 5s
		containerRuntimeEndpoint: unix://$sock
		imageServiceEndpoint: unix://$sock
		cgroupDriver: cgroupfs
		# This machine has cgroups v1 (hybrid).
		failCgroupV1: false
		cgroupsPerQOS: false
		enforceNodeAllocatable: []
		failSwapOn: false
		localStorageCapacityIsolation: false
		protectKernelDefaults: false
		registerNode: false
		address: 127.0.0.1
		readOnlyPort: 10255
		healthzBindAddress: 127.0.0.1
		podLogsDir: $k/logs
		resolvConf: /etc/resolv.conf
		authentication:
		  anonymous: {enabled: true}
		  webhook: {enabled: false}
		authorization: {mode: AlwaysAllow}
		evictionHard: {"memory.available": "0%", "nodefs.available": "0%", "imagefs.available": "0%"}
	EOF
	cat >"$k/manifests/web.yaml" <<-'EOF'
		apiVersion: v1
		kind: Pod
		metadata:
		  name: web
		  namespace: default
		spec:
		  containers:
		  - name: nginx
		    image: registry.k8s.io/e2e-test-images/nginx:1.14-2
		    ports:
		    - containerPort: 80
		      hostPort: 8080
		    readinessProbe:
		      httpGet: {path: /, port: 80}
		      periodSeconds: 1
		  - name: sidecar
		    image: registry.k8s.io/e2e-test-images/busybox:1.29-2
		    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
	EOF
	"$kubelet_dir/kubelet" --config "$k/config.yaml" --root-dir "$k/root" --cert-dir "$k/pki" \
		--hostname-override critest-node --v=2 >"$work/kubelet.log" 2>&1 &
	pids[kubelet]=$!
	local rc=0
	ready() { [ "$(container_field web nginx .ready)" = true ] && [ "$(container_field web sidecar .ready)" = true ]; }
	port() { curl -fs -o /dev/null http://127.0.0.1:8080/; }
	if wait_for "the pod's two containers are ready" 180 ready && wait_for "the pod answers on its host port 8080" 30 port; then
		local cid pids_in
		cid=$(container_field web nginx .containerID)
		cid=${cid#*://}
		pids_in=$(grep -l "$cid" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr '\n' ' ')
		log "killing nginx (container $cid, processes $pids_in)"
		# shellcheck disable=SC2086
		kill -KILL $pids_in 2>/dev/null || true # its children may go first
		restarted() { [ "$(container_field web nginx .restartCount)" -ge 1 ] 2>/dev/null && ready; }
		wait_for "the kubelet restarted nginx and it is ready again" 120 restarted || rc=1
	else
		rc=1
	fi
	pods_json | jq -r '.items[] | .metadata.name + ": " + .status.phase + "; " +
		([.status.containerStatuses[]? | .name + " ready=" + (.ready|tostring) + " restarts=" + (.restartCount|tostring)] | join(", "))' || true
	mkdir -p "$out"
	cp "$work/kubelet.log" "$out/kubelet-$runtime.log"
	stop_pid "${pids[kubelet]}"
	unset 'pids[kubelet]'
	if [ $rc = 0 ]; then echo "kubelet on $runtime: PASS"; else
		echo "kubelet on $runtime: FAIL (its log: $out/kubelet-$runtime.log)"
		grep -E '^E[0-9]{4}' "$work/kubelet.log" | tail -8
	fi
	return $rc
}

# ---- the run ----------------------------------------------------------

# inner runs in the network namespace: registry, images, runtimes, and
# critest (mode critest: one runtime) or cribench (mode bench: gantry and
# containerd side by side).
inner() {
	local mode=$1 runtime=$2
	work=$3
	shift 3
	ip link set lo up
	registry_pid=
	cleanup_inner() {
		set +e
		local name
		# The kubelet first: it would start again what is removed.
		[ -n "${pids[kubelet]:-}" ] && stop_pid "${pids[kubelet]}" && unset 'pids[kubelet]'
		for name in "${!pids[@]}"; do
			if kill -0 "${pids[$name]}" 2>/dev/null; then
				# Remove what the tests left, then stop the runtime.
				timeout 120 "$tools/crictl" --runtime-endpoint "unix://${socks[$name]}" rmp -fa >/dev/null 2>&1
				stop_pid "${pids[$name]}"
			fi
		done
		[ -n "$registry_pid" ] && stop_pid "$registry_pid"
	}
	trap cleanup_inner EXIT

	cat >"$work/registry.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $work/registry
		http:
		  addr: $reg
	EOF
	docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
	registry_pid=$!
	local i
	for i in $(seq 1 100); do
		curl -fs "http://$reg/v2/" >/dev/null && break
		sleep 0.1
	done
	curl -fs "http://$reg/v2/" >/dev/null || die "docker-registry did not start: $(tail -3 "$work/registry.log")"
	log "building and pushing the test images"
	build_images
	write_hosts

	if [ "$mode" = bench ]; then
		start_gantry
		start_containerd
		wait_runtime gantry
		wait_runtime containerd
		log "gantry and containerd answer: running cribench"
		"$work/cribench" -log-dir "$work/logs" "$@" "gantry=unix://${socks[gantry]}" "containerd=unix://${socks[containerd]}"
		return
	fi

	"start_$runtime"
	wait_runtime "$runtime"
	local sock=${socks[$runtime]}
	if [ "$mode" = kubelet ]; then
		run_kubelet "$runtime" "$sock"
		return
	fi
	log "$runtime answers on $sock: running critest $version"
	mkdir -p "$out"
	local report=$out/$runtime.json clog=$out/$runtime.log rc=0
	"$tools/critest" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" \
		--ginkgo.no-color --ginkgo.json-report "$report" --ginkgo.timeout 3h "$@" >"$clog" 2>&1 || rc=$?
	cp "$work/$runtime.log" "$out/$runtime-daemon.log"
	if [ -s "$report" ]; then
		jq -r '.[].SpecReports[] | select(.LeafNodeType == "It") |
			[.State, ((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" "))] | @tsv' "$report" | sort -k2 >"$out/$runtime.tsv"
	fi
	echo "critest log: $clog; $runtime's log: $out/$runtime-daemon.log; spec outcomes: $out/$runtime.tsv"
	if [ "$runtime" = gantry ] && [ -s "$out/containerd.tsv" ] && [ -s "$out/gantry.tsv" ]; then
		echo "Specs containerd passes and gantry does not:"
		join -t $'\t' -1 2 -2 2 <(awk -F'\t' '$1 == "passed"' "$out/containerd.tsv" | sort -t $'\t' -k2) \
			<(awk -F'\t' '$1 != "passed"' "$out/gantry.tsv" | sort -t $'\t' -k2) | awk -F'\t' '{print "  [" $3 "] " $1}'
	fi
	sed -n '/^Summarizing/,$p' "$clog" | grep -v 'Passed | .* Failed |' || true
	grep -E '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' "$clog" | tail -1 ||
		tail -20 "$clog"
	return $rc
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit
fi

# main runs the outer part: tools, packages, the namespace, then itself
# inside it. (One function called on the script's last line: bash reads a
# script as it runs it, and an edit under a long run must not be read.)
main() {
	mode=critest runtime=gantry
	case ${1:-} in
	--containerd)
		runtime=containerd
		shift
		;;
	--bench)
		mode=bench runtime=both
		shift
		;;
	--kubelet)
		mode=kubelet
		shift
		if [ "${1:-}" = --containerd ]; then
			runtime=containerd
			shift
		fi
		;;
	esac
	[ "$(id -u)" = 0 ] || die "run as root"
	need docker-registry:docker-registry mmdebstrap:mmdebstrap \
		/usr/lib/cni/bridge:containernetworking-plugins jq:jq curl:curl iptables:iptables \
		pgrep:procps ipcs:util-linux
	[ "$runtime" != gantry ] && need containerd:containerd
	build_tools
	[ "$mode" = kubelet ] && build_kubelet
	nginx_rootfs >/dev/null
	busybox_bin >/dev/null

	work=$(mktemp -d /tmp/critest-XXXXXX)
	ns=critest-${work##*-}
	cleanup() {
		set +e
		local pid
		# Whatever still runs in the namespace was started by this run.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
		findmnt -rn -o TARGET | grep "^$work/" | sort -r | while read -r m; do umount -l "$m" || true; done
		if [ -z "${CRITEST_KEEP:-}" ]; then rm -rf "$work"; else log "kept $work"; fi
	}
	trap cleanup EXIT
	CGO_ENABLED=0 go build -ldflags=-s -o "$work/pause" "$repo/scripts/critest/pause.go"
	CGO_ENABLED=0 go build -ldflags=-s -o "$work/nnp" "$repo/scripts/critest/nnp.go"
	[ "$mode" = bench ] && (cd "$repo" && go build -o "$work/cribench" ./bench/cribench)
	ip netns add "$ns"
	# nsenter, not ip netns exec (which remounts /sys and hides cgroup v1 from runc).
	nsenter --net="/run/netns/$ns" -- "$0" --inner "$mode" "$runtime" "$work" "$@"
}

main "$@"; exit
