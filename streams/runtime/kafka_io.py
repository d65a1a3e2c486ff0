"""Every kafka-python client the project makes, with its defaults, and bounded reads of a topic.

Faust's own aiokafka clients live in the agents; everything else (producer, exporter, outcome
watcher, lag monitor, the dedup and bias stores, the admin and review tools) gets its clients here:

- ``security``: TLS and SASL for every client (kafka-python, aiokafka and Faust shapes), from the
  SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL / _SASL_* / _SSL_* settings;
- ``consumer``/``producer``/``admin``: client id ``synthstream-<purpose>``, no consumer group and no
  auto-commit unless asked, committed records only (read_committed), ``acks=all`` with retries for producers, bounded admin timeouts;
- ``cluster_ready``: the quiet readiness probe (a metadata answer, not an open port);
- ``read_range``/``read_to_end``: every message of some partitions between two offsets, bounded by
  the end offsets taken when reading starts and by a deadline, so a reader never waits for ever on
  a topic that others keep writing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

CLIENT_PREFIX = "synthstream"
FETCH_MAX_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_BYTES = 16 * 1024 * 1024


def client_id(purpose: str) -> str:
    return f"{CLIENT_PREFIX}-{purpose}"


@dataclass(frozen=True)
class Security:
    """How every client of this process authenticates to the cluster and encrypts (TLS, SASL),
    from the SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_* settings. The same values
    in the shapes of the three client libraries: kafka-python (``kafka_python``), aiokafka
    (``aiokafka``: an SSLContext) and Faust (``faust_credentials``)."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    key_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    @classmethod
    def from_settings(cls, kafka: Any) -> Security:
        def secret(value: Any) -> str | None:
            return None if value is None else value.get_secret_value()

        def path(value: Any) -> str | None:
            return None if value is None else str(value)

        return cls(protocol=kafka.kafka_security_protocol, mechanism=kafka.kafka_sasl_mechanism,
                   username=kafka.kafka_sasl_username, password=secret(kafka.kafka_sasl_password),
                   cafile=path(kafka.kafka_ssl_cafile), certfile=path(kafka.kafka_ssl_certfile),
                   keyfile=path(kafka.kafka_ssl_keyfile), key_password=secret(kafka.kafka_ssl_key_password),
                   check_hostname=kafka.kafka_ssl_check_hostname)

    @property
    def ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def describe(self) -> str:
        """For error messages: the protocol, mechanism and user, never the password."""
        if self.sasl:
            return f"{self.protocol}, {self.mechanism} as user {self.username!r}"
        return self.protocol

    def ssl_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(cafile=self.cafile)
        context.check_hostname = self.check_hostname
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile, self.key_password)
        return context

    def kafka_python(self) -> dict[str, Any]:
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        if self.ssl:
            options["ssl_context"] = self.ssl_context()
        return options

    def aiokafka(self) -> dict[str, Any]:
        return self.kafka_python()  # aiokafka takes the same names (and an SSLContext)

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for faust.App, or None for PLAINTEXT."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=self.ssl_context() if self.ssl else None,
                                         mechanism=self.mechanism)
        if self.ssl:
            return faust.SSLCredentials(self.ssl_context())
        return None


_security: Security | None = None


def configure(kafka: Any) -> Security:
    """Use ``kafka``'s (a KafkaSettings') security settings for every client made from now on;
    a process that read its settings from a file (a worker) calls this, others read the
    environment the first time a client is made."""
    global _security
    _security = Security.from_settings(kafka)
    return _security


def security() -> Security:
    global _security
    if _security is None:
        from synthstream.streams.runtime.settings import KafkaSettings

        _security = Security.from_settings(KafkaSettings())
    return _security


def consumer(bootstrap: str, purpose: str, *, security_: Security | None = None, **overrides: Any) -> Any:
    """An unassigned consumer with no group and no auto-commit (readers assign partitions
    themselves) that reads committed records only (``isolation_level=read_committed``: what a
    transaction aborted, or has not committed yet, is never seen); ``overrides`` are kafka-python
    settings."""
    from kafka import KafkaConsumer

    options: dict[str, Any] = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                   auto_offset_reset="earliest", isolation_level="read_committed",
                                   client_id=client_id(purpose), **(security_ or security()).kafka_python())
    options.update(overrides)
    return KafkaConsumer(**options)


def producer(bootstrap: str, purpose: str = "producer", *, security_: Security | None = None,
             **overrides: Any) -> Any:
    """A producer that waits for every in-sync replica and retries: a prompt is never sent once
    and lost."""
    from kafka import KafkaProducer

    options: dict[str, Any] = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=10, batch_size=256 * 1024,
                                   retries=10, client_id=client_id(purpose),
                                   **(security_ or security()).kafka_python())
    options.update(overrides)
    return KafkaProducer(**options)


def admin(bootstrap: str, purpose: str = "admin", timeout_s: float = 15.0, security_: Security | None = None) -> Any:
    from kafka.admin import KafkaAdminClient

    ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id(purpose), request_timeout_ms=ms,
                            bootstrap_timeout_ms=ms, **(security_ or security()).kafka_python())


def cluster_ready(bootstrap: str, timeout_s: float = 3.0, security_: Security | None = None) -> bool:
    """True when the cluster answers a metadata request (not merely an open port). A refused
    connection is the expected answer while a broker starts, so kafka-python's own ERROR lines
    about it are kept out of the log: the probe's result says it all."""
    return cluster_problem(bootstrap, timeout_s, security_) is None


def cluster_problem(bootstrap: str, timeout_s: float = 10.0, security_: Security | None = None) -> str | None:
    """None when the cluster answers a metadata request, else one line that says what is wrong
    and what to fix (nothing answers; the credentials were refused; the certificate is not
    trusted; plaintext spoken to a TLS or SASL listener). kafka-python reports the cause of a
    failed bootstrap only in its log, so the probe reads its log (and keeps it off the console:
    a refused connection is the expected answer while a broker starts)."""
    from kafka.errors import KafkaError

    sec = security_ or security()
    heard = _Heard()
    client_log = logging.getLogger("kafka")
    saved = client_log.level, client_log.propagate
    client_log.setLevel(logging.INFO)
    client_log.propagate = False
    client_log.addHandler(heard)
    try:
        try:
            client = admin(bootstrap, "probe", timeout_s, sec)
        except (KafkaError, OSError, ValueError) as exc:
            return _explain(bootstrap, sec, exc, heard.lines)
        try:
            if client.describe_cluster().get("brokers"):
                return None
            return f"the cluster at {bootstrap} lists no brokers"
        except (KafkaError, OSError) as exc:
            return _explain(bootstrap, sec, exc, heard.lines)
        finally:
            client.close()
    finally:
        client_log.removeHandler(heard)
        client_log.setLevel(saved[0])
        client_log.propagate = saved[1]


class _Heard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < 200:
            self.lines.append(record.getMessage())


def _explain(bootstrap: str, sec: Security, exc: BaseException, heard: list[str]) -> str:
    """One line for a failed connection, from the error and what the client logged; for a SASL
    client whose log does not name the cause, from one login spoken directly (``sasl_check``:
    a broker that refuses the credentials may hang up before its error answer gets out)."""
    text = " ".join([f"{type(exc).__name__}: {exc}", *heard])
    refused = (f"the cluster at {bootstrap} refused the credentials ({sec.describe()}): check "
               "SYNTHSTREAM_KAFKA_SASL_USERNAME, SYNTHSTREAM_KAFKA_SASL_PASSWORD and SYNTHSTREAM_KAFKA_SASL_MECHANISM")
    unsupported = (f"the cluster at {bootstrap} does not offer SASL mechanism {sec.mechanism}: set "
                   "SYNTHSTREAM_KAFKA_SASL_MECHANISM to one it does ({offered})")
    if "SaslAuthenticationFailed" in text or "Authentication failed" in text:
        return refused
    if "UnsupportedSaslMechanism" in text or "unsupported sasl mechanism" in text.lower():
        return unsupported.format(offered="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
    if sec.sasl and "CERTIFICATE_VERIFY_FAILED" not in text:
        from synthstream.streams.runtime import sasl_check

        outcome = sasl_check.check(bootstrap, sec)
        if outcome.verdict == sasl_check.REFUSED:
            return refused
        if outcome.verdict == sasl_check.UNSUPPORTED:
            return unsupported.format(offered=f"it offers {outcome.detail or 'none'}")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        why = "its name is not the host's" if "match" in text or "mismatch" in text.lower() else "unknown issuer"
        return (f"the TLS certificate of the broker at {bootstrap} is not trusted ({why}): set "
                "SYNTHSTREAM_KAFKA_SSL_CAFILE to the PEM of the CA that signed it")
    if sec.ssl and ("WRONG_VERSION_NUMBER" in text or "Handshake failed" in text):
        return (f"TLS with {bootstrap} failed ({_first(heard, 'Handshake')}): is that a TLS listener? Check "
                f"the port and SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL (now {sec.protocol})")
    if "connected to <" in text and ("socket disconnected" in text or "Connection lost" in text):
        return (f"the broker at {bootstrap} closed every connection without answering ({sec.describe()}): a "
                "listener that expects TLS or SASL does that; set SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL (and its "
                "SASL / SSL settings) to what the cluster's listener speaks")
    hint = ("start it with `synthstream kafka start` or set SYNTHSTREAM_BOOTSTRAP" if sec.protocol == "PLAINTEXT"
            else f"check SYNTHSTREAM_BOOTSTRAP and that the listener speaks {sec.protocol}")
    return f"no Kafka answers at {bootstrap}: {hint}"


def _first(lines: list[str], word: str) -> str:
    found = next((line for line in lines if word in line), "")
    return found[found.find(word):][:160]


def partitions_of(client: Any, topic: str, timeout_s: float = 30.0) -> list[int]:
    """The topic's partitions. One created a moment ago may be missing from the first metadata
    answer: ask again until it is there (TimeoutError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        parts = client.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions after {timeout_s:.0f}s")
        client.topics()  # a fresh metadata request
        time.sleep(0.2)


def assign_at_end(client: Any, topics: list[str], timeout_s: float = 30.0) -> list[Any]:
    """Assign every partition of ``topics`` and position the consumer at their current ends (the
    lazy seek is resolved now, before anything else is produced); returns the partitions."""
    from kafka import TopicPartition

    parts = [TopicPartition(t, p) for t in topics for p in partitions_of(client, t, timeout_s)]
    client.assign(parts)
    client.seek_to_end(*parts)
    for tp in parts:
        client.position(tp)
    return parts


def end_offsets(bootstrap: str, topic: str, partitions: list[int] | None = None,
                purpose: str = "offsets") -> dict[int, int]:
    """partition -> end offset (the next offset to be written), for ``partitions`` (default: all)."""
    from kafka import TopicPartition

    client = consumer(bootstrap, purpose)
    try:
        wanted = partitions if partitions is not None else sorted(client.partitions_for_topic(topic) or [])
        parts = [TopicPartition(topic, p) for p in wanted]
        return {tp.partition: off for tp, off in client.end_offsets(parts).items()} if parts else {}
    finally:
        client.close()


def read_range(bootstrap: str, topic: str, *, partitions: list[int] | None = None,
               start: dict[int, int] | None = None, stop: dict[int, int] | None = None,
               timeout_s: float = 60.0, purpose: str = "read",
               isolation_level: str = "read_committed") -> Iterator[Any]:
    """Yield every message of ``partitions`` (default: all) from ``start`` (partition -> offset;
    default: the beginning) up to ``stop`` (partition -> offset, exclusive) or the end offsets taken
    when reading starts, whichever comes first. Raises TimeoutError when the range is not read
    within ``timeout_s``."""
    from kafka import TopicPartition

    client = consumer(bootstrap, purpose, fetch_max_bytes=FETCH_MAX_BYTES,
                      max_partition_fetch_bytes=PARTITION_FETCH_BYTES, isolation_level=isolation_level)
    try:
        available = client.partitions_for_topic(topic) or set()
        wanted = sorted(available if partitions is None else set(partitions) & available)
        parts = [TopicPartition(topic, p) for p in wanted]
        if not parts:
            return
        client.assign(parts)
        begin, end = client.beginning_offsets(parts), client.end_offsets(parts)
        end = {tp: min(end[tp], (stop or {}).get(tp.partition, end[tp])) for tp in parts}
        for tp in parts:
            client.seek(tp, max((start or {}).get(tp.partition, 0), begin[tp]))
        remaining = {tp for tp in parts if client.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, messages in client.poll(timeout_ms=500, max_records=20_000).items():
                for msg in messages:
                    if msg.offset < end[tp]:
                        yield msg
            # every partition, not only those that returned messages: one whose last records are
            # an aborted transaction's, or its markers, reaches its end with nothing to return
            remaining = {tp for tp in remaining if client.position(tp) < end[tp]}
        if remaining:
            raise TimeoutError(f"{topic} partitions {sorted(tp.partition for tp in remaining)} "
                               f"not read to the end within {timeout_s:.0f}s")
    finally:
        client.close()


def read_to_end(bootstrap: str, topic: str, *, partitions: list[int] | None = None,
                start: dict[int, int] | None = None, timeout_s: float = 60.0,
                purpose: str = "read", isolation_level: str = "read_committed") -> Iterator[Any]:
    """``read_range`` up to the end offsets taken when reading starts."""
    return read_range(bootstrap, topic, partitions=partitions, start=start, timeout_s=timeout_s, purpose=purpose,
                      isolation_level=isolation_level)
