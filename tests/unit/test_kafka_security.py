"""TLS and SASL settings: validated once, carried to a worker's settings file, masked in the
start-up dump, and handed to each client library in its own shape."""

from __future__ import annotations

import ssl

import pydantic
import pytest

from synthstream.streams.runtime.kafka_io import Security
from synthstream.streams.runtime.settings import KafkaSettings, Settings

SASL = {"SYNTHSTREAM_BOOTSTRAP": "kafka.example:9093", "SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SYNTHSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "SYNTHSTREAM_KAFKA_SASL_USERNAME": "trainer",
        "SYNTHSTREAM_KAFKA_SASL_PASSWORD": "pa55-word"}


def test_sasl_without_a_password_is_refused_with_the_settings_to_set(monkeypatch):
    monkeypatch.setenv("SYNTHSTREAM_BOOTSTRAP", "kafka.example:9093")
    monkeypatch.setenv("SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SYNTHSTREAM_KAFKA_SASL_USERNAME", "trainer")
    with pytest.raises(pydantic.ValidationError, match="SYNTHSTREAM_KAFKA_SASL_PASSWORD"):
        KafkaSettings()


def test_security_settings_need_a_cluster_of_ones_own(monkeypatch):
    monkeypatch.delenv("SYNTHSTREAM_BOOTSTRAP", raising=False)
    monkeypatch.setenv("SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL", "SSL")
    with pytest.raises(pydantic.ValidationError, match="set SYNTHSTREAM_BOOTSTRAP"):
        KafkaSettings()


def test_a_missing_ca_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTHSTREAM_BOOTSTRAP", "kafka.example:9093")
    monkeypatch.setenv("SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("SYNTHSTREAM_KAFKA_SSL_CAFILE", str(tmp_path / "nope.pem"))
    with pytest.raises(pydantic.ValidationError, match="nope.pem: no such file"):
        KafkaSettings()


def test_the_password_reaches_the_worker_file_but_never_the_dump(monkeypatch, tmp_path):
    for k, v in SASL.items():
        monkeypatch.setenv(k, v)
    s = Settings.from_env()
    assert "pa55-word" not in s.masked() and "pa55-word" not in repr(s)
    back = Settings.read(s.write(tmp_path / "w.json"))
    assert back.kafka.kafka_sasl_password.get_secret_value() == "pa55-word"
    assert Security.from_settings(back.kafka) == Security.from_settings(s.kafka)
    assert "pa55-word" not in repr(Security.from_settings(s.kafka))


def test_each_client_library_gets_the_same_settings_in_its_shape(monkeypatch):
    for k, v in SASL.items():
        monkeypatch.setenv(k, v)
    sec = Security.from_settings(KafkaSettings())
    options = sec.kafka_python()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "trainer" and options["sasl_plain_password"] == "pa55-word"
    assert isinstance(options["ssl_context"], ssl.SSLContext) and options["ssl_context"].check_hostname
    assert sec.aiokafka()["sasl_mechanism"] == "SCRAM-SHA-512"
    credentials = sec.faust_credentials()
    assert credentials.username == "trainer" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert "pa55-word" not in sec.describe() and "trainer" in sec.describe()


def test_plaintext_is_the_default_and_adds_nothing(monkeypatch):
    monkeypatch.delenv("SYNTHSTREAM_BOOTSTRAP", raising=False)
    sec = Security.from_settings(KafkaSettings())
    assert sec.kafka_python() == {"security_protocol": "PLAINTEXT"} and sec.faust_credentials() is None
