"""A real single-node KRaft Apache Kafka, fetched through Maven and run from its jars."""
