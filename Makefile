# labrun: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REVISION)
BIN := bin/labrun
DEMO_OUT ?= runs
FUZZTIME ?= 30s

.PHONY: help build test test-deps demo wire-demo link-demo bench bench-deps fuzz lint clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/labrun with version and revision stamped in
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/labrun

test: test-deps ## run the test suite (vet, then go test; privileged tests skip unless root); as root, fails if the tests leave a sysctl changed
	$(GO) vet ./...
	@guard=""; \
	if [ "$$(id -u)" = 0 ]; then \
	  $(GO) build -o bin/sysctlguard ./bench/sysctlguard && guard=$$(mktemp) && bin/sysctlguard -save $$guard || guard=""; \
	else echo "sysctlguard: not root: the tests cannot change sysctls, not checked"; fi; \
	$(GO) test -count=1 ./...; rc=$$?; \
	if [ -n "$$guard" ]; then bin/sysctlguard -check $$guard || rc=1; rm -f $$guard; fi; \
	exit $$rc

# Tools the tests use or compare against (tshark checks checksums, ip sets
# up test namespaces, tcpreplay and trafgen are the peers of the wire
# experiments, iperf3 of TCP through the emulated link, rt-tests and stress-ng
# of the timer and load experiments, chromium opens report.html, git (and
# git daemon) makes, serves and fetches the module repositories), as
# command:package. Installed when root and missing; without
# them those tests skip and say why.
TEST_TOOLS := git:git tshark:tshark tcpdump:tcpdump ip:iproute2 tcpreplay:tcpreplay trafgen:netsniff-ng iperf3:iperf3 cyclictest:rt-tests stress-ng:stress-ng chromium:chromium sbatch:slurm-wlm munged:munge
# The hosts tests (docs/hosts.md) run OpenSSH's server in namespaces they
# make, and labrun's ssh client reaches them.
TEST_TOOLS += sshd:openssh-server ssh:openssh-client
test-deps: ## install the tools some tests use (Debian: git, tshark, tcpdump, iproute2, tcpreplay, netsniff-ng, iperf3, rt-tests, stress-ng, chromium, slurm-wlm, munge, openssh-server, openssh-client; no daemon left running), when root
	@missing=""; for tp in $(TEST_TOOLS); do command -v $${tp%%:*} >/dev/null || missing="$$missing $${tp#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; \
	  $(NO_DAEMON_START) \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null) || echo "could not install$$missing: the tests that need them will skip"; \
	  $(NO_DAEMON_END) \
	fi

# Installing a daemon's package (openssh-server) must not leave the daemon
# running, nor starting at boot, where it did not before: during the
# install a policy-rc.d refuses every start (invoke-rc.d and
# deb-systemd-invoke ask it), and any policy-rc.d that was there is put
# back after, also on Ctrl-C; on a systemd host the units the install
# enabled are disabled again (only for packages this install added).
NO_DAEMON_START = policy=/usr/sbin/policy-rc.d; saved=""; \
	  if [ -e $$policy ]; then saved=$$(mktemp) && cp -p $$policy $$saved; fi; \
	  restore() { rm -f $$policy; if [ -n "$$saved" ]; then mv -f $$saved $$policy; fi; }; \
	  trap 'restore; exit 130' INT TERM; \
	  printf '\043!/bin/sh\n\043 labrun make test-deps: no daemon starts during the install\nexit 101\n' > $$policy && chmod 755 $$policy;
NO_DAEMON_END = restore; trap - INT TERM; \
	  case "$$missing" in *openssh-server*) \
	    if [ -d /run/systemd/system ]; then systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true; fi;; \
	  esac;

wire-demo: build test-deps ## run the wire experiments, small (needs root): NetVCR Fig. 10 and Table III, IRLstack batches and ports, Caliper Fig. 2 and 3
	$(BIN) run experiments/replay_vs_tcpreplay.star --set packets=20000 --allow-system -o $(DEMO_OUT)
	$(BIN) run experiments/batch_size.star --set packets=50000 -o $(DEMO_OUT)
	$(BIN) run experiments/caliper_precision.star --set packets=5000 --allow-system -o $(DEMO_OUT)
	$(BIN) run experiments/irlstack_ports.star --set packets=50000 -o $(DEMO_OUT)
	$(BIN) run experiments/netvcr_profile.star -o $(DEMO_OUT)
	$(BIN) run experiments/caliper_tcp.star -o $(DEMO_OUT)

link-demo: build test-deps ## run the emulated-link experiments, small (accuracy and TCP need root): TLEM's throughput, fidelity and accuracy, TCP through the link
	$(BIN) run experiments/tlem_throughput.star --set packets=2000000 -o $(DEMO_OUT)
	$(BIN) run experiments/tlem_fidelity.star -o $(DEMO_OUT)
	$(BIN) run experiments/tlem_accuracy.star --set packets=20000 --allow-system -o $(DEMO_OUT)
	$(BIN) run experiments/tcp_through_link.star --set duration=4s --set rtt=20ms -o $(DEMO_OUT)

demo: build ## run experiments/usleep_vs_firm.star on safe defaults and print its table (changes nothing that outlives labrun)
	$(BIN) run experiments/usleep_vs_firm.star -o $(DEMO_OUT)

bench: build bench-deps test-deps ## Go benchmarks of the hot paths; labrun vs cyclictest (timers), tcpdump (reading), tcpreplay and trafgen (frames/s on a veth, root); the link pipeline vs a plain copy
	$(GO) test -run='^$$' -bench=. -benchmem ./engine/...
	bench/read.sh
	bench/timers.sh
	bench/wire.sh
	bench/peers.sh
	bench/link.sh

bench-deps: ## install the peer tools the benchmarks compare against, and what bench/peers.sh sets up their veth with (Debian: rt-tests, tcpdump, hyperfine, ethtool)
	@command -v cyclictest >/dev/null && command -v tcpdump >/dev/null && command -v hyperfine >/dev/null && command -v ethtool >/dev/null || \
	  { apt-get update && apt-get install -y rt-tests tcpdump hyperfine ethtool; }

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

lint: ## gofmt, go vet and go mod tidy must leave nothing to change
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean: ## remove build outputs
	rm -rf bin
