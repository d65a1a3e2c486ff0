"""The runtime layer: errors, serde, topics, settings, metrics, the agent shell and Kafka I/O. It imports nothing above it."""
