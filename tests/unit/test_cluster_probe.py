"""Probing for a broker that is not there says False, quietly (no kafka-python ERROR lines)."""

import logging
import socket

from synthstream.streams.runtime.kafka_io import cluster_ready


def test_probe_of_a_closed_port_is_false_and_logs_no_errors(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the probe runs: connections are refused
    caplog.set_level(logging.DEBUG)
    assert cluster_ready(f"127.0.0.1:{port}", timeout_s=1.0) is False
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert logging.getLogger("kafka").level == logging.NOTSET  # the client's level is given back
