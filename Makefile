GO ?= go
BIN := bin

# make install: PREFIX and the directories under it; DESTDIR stages the
# whole tree elsewhere (packaging, tests).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: build test bench bench-build bench-cachemount bench-cachefrom bench-network bench-registry bench-save bench-security bench-deep bench-userns bench-restore bench-dns bench-ps bench-scale bench-logs bench-lifecycle bench-buildx bench-ctxsync bench-buildpush bench-cri critest critest-kubelet clean install uninstall

build:
	$(GO) build -o $(BIN)/gantryd ./cmd/gantryd
	$(GO) build -o $(BIN)/gantry ./cmd/gantry
	$(GO) build -o $(BIN)/gantry-monitor ./cmd/gantry-monitor
	$(GO) build -o $(BIN)/gantry-buildkitd ./cmd/gantry-buildkitd

# A gofmt check, then unit tests, then the integration tests against a real
# gantryd (need root, runc).
test: build
	@test -z "$$(gofmt -l .)" || { echo "gofmt -l: these files need gofmt -w:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench: build
	bench/run.sh

.PHONY: bench-images
bench-images: build
	bench/images.sh

.PHONY: bench-df
bench-df: build
	bench/df.sh

bench-save: build
	bench/save.sh

clean:
	rm -rf $(BIN)

# The binaries, gantry.service and gantry.socket (socket activation), and,
# on a real install (no DESTDIR), the system group docker of the socket.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(BIN)/gantryd $(BIN)/gantry $(BIN)/gantry-monitor $(BIN)/gantry-buildkitd $(DESTDIR)$(BINDIR)/
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/gantry.service > $(DESTDIR)$(SYSTEMDUNITDIR)/gantry.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/gantry.service
	install -m 0644 contrib/systemd/gantry.socket $(DESTDIR)$(SYSTEMDUNITDIR)/gantry.socket
	@if [ -z "$(DESTDIR)" ] && ! getent group docker >/dev/null; then \
		groupadd --system docker && echo "added the system group docker: its members may use /run/gantry.sock"; fi
	@if [ -z "$(DESTDIR)" ]; then echo "now: systemctl daemon-reload && systemctl enable --now gantry.socket gantry.service"; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gantryd $(DESTDIR)$(BINDIR)/gantry $(DESTDIR)$(BINDIR)/gantry-monitor $(DESTDIR)$(BINDIR)/gantry-buildkitd
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/gantry.service $(DESTDIR)$(SYSTEMDUNITDIR)/gantry.socket

bench-build: build
	bench/build.sh

bench-cachefrom: build
	bench/cachefrom.sh

bench-cachemount: build
	./bench/cachemount.sh

bench-network: build
	bench/network.sh

bench-registry: build
	bench/registry.sh

bench-security: build
	bench/security.sh

bench-deep: build
	bench/deep.sh

bench-userns: build
	bench/userns.sh

bench-restore: build
	bench/restore.sh

bench-dns: build
	bench/dns.sh

bench-lifecycle: build
	bench/lifecycle.sh

bench-ps: build
	bench/ps.sh

bench-logs: build
	bench/logs.sh

# slow (1,000 containers): not in make test
bench-scale: build
	bench/scale.sh

bench-buildx: build
	bench/buildx.sh

bench-ctxsync: build
	bench/ctxsync.sh

bench-buildpush: build
	bench/buildpush.sh

# gantryd and containerd through the CRI, side by side (bench/cribench)
bench-cri: build
	bench/cri.sh

# critest, the CRI validation suite of cri-tools, against a fresh gantryd
# (slow, minutes: not in make test); CRITEST_FLAGS=--containerd runs it
# against containerd instead
critest: build
	scripts/critest.sh $(CRITEST_FLAGS)

# a real kubelet (k8s.io/kubernetes v1.37.2, built once), standalone, with a
# static two-container pod on a fresh gantryd (slow the first time)
critest-kubelet: build
	scripts/critest.sh --kubelet $(CRITEST_FLAGS)
