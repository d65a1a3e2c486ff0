# Two commands do everything on a fresh machine:
#   make run    set up, start a local Kafka, run the demo spec end to end, print the summary, stop
#   make test   set up, then the whole test suite (integration tests start their own real broker)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
COUNT  ?= 1000

.PHONY: setup system-deps kafka-jars run test bench clean

setup: system-deps $(STAMP) kafka-jars

# Java and Maven run the local broker; installed from Debian when missing (needs root).
system-deps:
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Java and Maven from Debian ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless maven; \
	  else \
	    echo "error: the local Kafka needs java (17+) and mvn on PATH; install them, or set SYNTHSTREAM_BOOTSTRAP to an existing cluster" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $(STAMP)

kafka-jars: $(STAMP)
	@if [ -z "$$SYNTHSTREAM_BOOTSTRAP" ]; then $(BIN)/synthstream kafka fetch; fi

run: setup
	$(BIN)/synthstream run --spec specs/demo.yaml --count $(COUNT) --out out/demo.jsonl

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_e2e.py

clean:
	rm -rf $(VENV) out build *.egg-info
