# Headroom's make targets. `make test` is the one command that runs every
# test, including those against real Prometheus, Alertmanager and
# node_exporter; it installs what they need first.

GO ?= go
GOTEST_FLAGS ?= -race -timeout 30m

.PHONY: all build setup test vet demo fuzz bench plugin

all: build

build:
	$(GO) build -o bin/headroom ./cmd/headroom

setup:
	scripts/setup.sh

vet:
	$(GO) vet ./...

# The demo's end-to-end tests measure throttled bytes on lab clusters in real
# time; they run alone, after every other package, so that other tests do
# not starve their load generators of CPU. The vivo comparison runs without
# the race detector, which slows the lab's load generators several times
# over until they fall behind on both labs and that reads as throttling;
# every other demo test, and the daemon, round and lab code it drives (in
# their own packages), runs under it.
VIVO := ^TestVivoHeadroomVersusStatic$$
test: setup vet
	$(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v '/simulations/demo$$')
	$(GO) test $(GOTEST_FLAGS) -skip '$(VIVO)' ./simulations/demo/
	$(GO) test -timeout 30m -run '$(VIVO)' -v ./simulations/demo/
	cd plugin && npm run typecheck && npm test

demo: build
	bin/headroom demo

# Short fuzzing passes over every fuzz target, e.g. make fuzz FUZZTIME=1m.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The Grafana datasource in plugin/dist: backend binary, plugin.json and
# the frontend bundle (module.js, esbuild through npm run build).
plugin:
	scripts/setup-plugin.sh
	mkdir -p plugin/dist
	CGO_ENABLED=0 $(GO) build -o plugin/dist/gpx_headroom_linux_amd64 ./plugin/cmd/gpx_headroom
	cp plugin/src/plugin.json plugin/dist/plugin.json
	cd plugin && npm run build
