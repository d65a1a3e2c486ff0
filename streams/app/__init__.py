"""The application layer: the CLI, `run`, worker wiring, the Kafka and model launchers, the producer, exporter and review tools."""
