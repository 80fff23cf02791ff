GO ?= go
BIN := bin

.PHONY: build test bench bench-build bench-network bench-registry bench-save bench-security bench-dns clean

build:
	$(GO) build -o $(BIN)/gantryd ./cmd/gantryd
	$(GO) build -o $(BIN)/gantry ./cmd/gantry

# A gofmt check, then unit tests, then the integration tests against a real
# gantryd (need root, runc).
test: build
	@test -z "$$(gofmt -l .)" || { echo "gofmt -l: these files need gofmt -w:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench: build
	bench/run.sh

bench-save: build
	bench/save.sh

clean:
	rm -rf $(BIN)

bench-build: build
	bench/build.sh

bench-network: build
	bench/network.sh

bench-registry: build
	bench/registry.sh

bench-security: build
	bench/security.sh

bench-dns: build
	bench/dns.sh
