# The synthstream worker/CLI image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY agents ./agents
COPY schemas ./schemas
COPY specs ./specs
RUN pip install --no-cache-dir .
# schemas/ is read from the source tree next to the packages
ENV PYTHONPATH=/app SYNTHSTREAM_METRICS_HOST=0.0.0.0
ENTRYPOINT ["synthstream"]
CMD ["--help"]
