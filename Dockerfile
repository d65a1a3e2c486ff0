# The synthstream worker/CLI image used by docker-compose.yml.
FROM python:3.11-slim
# build tools for llama-cpp-python (the embedded model server), bubblewrap for the code sandbox
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake bubblewrap \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
COPY specs ./specs
# llama.cpp for any x86-64 with AVX2 (the image may run elsewhere), not -march=native of the build host,
# which also compiles AMX kernels (see the Makefile)
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
RUN pip install --no-cache-dir ".[local-llm]"
# the wheel installs everything under the synthstream namespace, schemas included; the specs stay in /app
ENV SYNTHSTREAM_METRICS_HOST=0.0.0.0
ENTRYPOINT ["synthstream"]
CMD ["--help"]
