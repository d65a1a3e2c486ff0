"""Start, stop and probe a local KRaft broker (combined broker+controller on 127.0.0.1)."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from synthstream.streams.runtime.errors import ConfigError
from synthstream.streams.runtime.kafka_io import Security, cluster_ready
from synthstream.streams.runtime.procs import ManagedServer
from synthstream.streams.runtime.settings import KafkaSettings

logger = logging.getLogger(__name__)
PLAINTEXT = Security()  # the local broker is probed on its PLAINTEXT listener, whatever this process's settings
HERE = Path(__file__).resolve().parent


class LauncherError(ConfigError):
    """The local broker cannot be fetched, started or reached; the message says what to do."""


@dataclass
class BrokerStatus:
    running: bool
    ready: bool
    pid: int | None
    bootstrap: str
    detail: str


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener beside the PLAINTEXT one, for trying the project's TLS and SASL
    settings against a real broker (tests/integration/test_secured_cluster.py). The broker
    serves ``keystore_pem`` (its unencrypted PKCS#8 key and certificate chain) and accepts the
    ``users`` (name -> password) over SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; SCRAM credentials
    are stored when the storage is formatted, so a data directory keeps the users it was made with."""

    port: int
    keystore_pem: Path
    users: dict[str, str]
    host: str = "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def cluster_id() -> str:
    """A random KRaft cluster id (URL-safe base64 of a UUID). One that starts with '-' would be read
    by the storage tool as an option (1 start in 64 failed that way), so, like Kafka's own
    Uuid.randomUuid(), draw again."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalKafka(ManagedServer):
    """One broker per data directory; its pid file makes start idempotent."""

    what = "Kafka broker"
    error = LauncherError

    def __init__(self, settings: KafkaSettings, sasl_ssl: SaslSslListener | None = None) -> None:
        self.s = settings
        self.sasl_ssl = sasl_ssl
        self.ready_timeout_s, self.stop_timeout_s = settings.kafka_ready_timeout_s, 30.0
        self.port = settings.kafka_port
        self.controller_port = settings.kafka_controller_port or settings.kafka_port + 1
        self.lib_dir = settings.kafka_cache_dir / settings.kafka_version / "libs"
        self.data_dir = settings.kafka_data_dir
        self.pid_file = self.data_dir / "kafka.pid"
        self.log_file = self.data_dir / "kafka.log"
        self.bootstrap = f"127.0.0.1:{self.port}"

    # -- jars -------------------------------------------------------------------------------
    def fetch(self) -> Path:
        """Resolve the broker's jars once into the per-user cache (offline afterwards)."""
        done = self.lib_dir / ".complete"
        if done.exists():
            return self.lib_dir
        if shutil.which("mvn") is None:
            raise LauncherError("Maven (`mvn`) is not on PATH, and the Kafka jars are not cached yet in "
                                f"{self.lib_dir}. Install Maven (Debian: `apt-get install maven`) or set "
                                "SYNTHSTREAM_BOOTSTRAP to use an existing Kafka cluster.")
        work = self.lib_dir.parent
        work.mkdir(parents=True, exist_ok=True)
        pom = (HERE / "pom.xml.in").read_text().replace("@KAFKA_VERSION@", self.s.kafka_version)
        (work / "pom.xml").write_text(pom)
        tmp = work / "libs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        logger.info("fetching Kafka %s jars with Maven into %s", self.s.kafka_version, self.lib_dir)
        proc = subprocess.run(
            ["mvn", "-B", "-q", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
            capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise LauncherError(f"Maven could not resolve org.apache.kafka:kafka_2.13:{self.s.kafka_version} "
                                "(check network access to Maven Central, or SYNTHSTREAM_KAFKA_VERSION):\n"
                                + "\n".join(tail))
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        tmp.rename(self.lib_dir)
        done.write_text(self.s.kafka_version)
        return self.lib_dir

    # -- storage ----------------------------------------------------------------------------
    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kraft"),
            "num.partitions": str(self.s.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if self.sasl_ssl is not None:
            props.update(self._sasl_ssl_props(self.sasl_ssl))
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _sasl_ssl_props(self, listener: SaslSslListener) -> dict[str, str]:
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in listener.users.items())
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port},"
                         f"SASL_SSL://{listener.bootstrap}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://{listener.bootstrap}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(listener.keystore_pem),
        }

    def _format_args(self) -> list[str]:
        if self.sasl_ssl is None:
            return []
        return [arg for name, password in self.sasl_ssl.users.items()
                for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")]

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise LauncherError("`java` is not on PATH; Kafka needs Java 17 or newer "
                                "(Debian: `apt-get install openjdk-17-jre-headless`), or set SYNTHSTREAM_BOOTSTRAP "
                                "to use an existing Kafka cluster.")
        return [java, f"-Xmx{self.s.kafka_heap}", f"-Xms{self.s.kafka_heap}", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={HERE / 'log4j2.yaml'}", "-cp", f"{self.lib_dir}/*", *args]

    def format(self, config: Path) -> None:
        """Format KRaft storage once; a formatted directory is left alone."""
        if (self.data_dir / "kraft" / "meta.properties").exists():
            return
        proc = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(config),
                                          *self._format_args()),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise LauncherError(f"formatting Kafka storage in {self.data_dir} failed:\n{proc.stdout[-1500:]}"
                                f"{proc.stderr[-1500:]}\nDelete that directory to start from scratch.")

    # -- process (the start/wait/stop mechanism is procs.ManagedServer's) ------------------------
    def ports(self) -> list[int]:
        return [self.port, self.controller_port] + ([self.sasl_ssl.port] if self.sasl_ssl else [])

    def port_in_use(self, port: int) -> str:
        return (f"port {port} on 127.0.0.1 is already in use by another program. Stop it, or choose other ports "
                "with SYNTHSTREAM_KAFKA_PORT (and SYNTHSTREAM_KAFKA_CONTROLLER_PORT), or point SYNTHSTREAM_BOOTSTRAP "
                "at that cluster if it is a Kafka you want to use.")

    def prepare(self) -> list[str]:
        self.fetch()
        config = self._write_config()
        self.format(config)
        return self._java("kafka.Kafka", str(config))

    def probe(self, timeout_s: float) -> str | None:
        return None if cluster_ready(self.bootstrap, timeout_s=min(timeout_s, 2.0), security_=PLAINTEXT) else "no metadata answer"

    def not_ready(self, pid: int, error: str) -> str:
        return (f"Kafka (pid {pid}) did not answer a metadata request on {self.bootstrap} within "
                f"{self.ready_timeout_s:.0f}s. Look at {self.log_file}; stop it with `synthstream kafka stop`, "
                "or raise SYNTHSTREAM_KAFKA_READY_TIMEOUT_S.")

    def status(self) -> BrokerStatus:
        pid = self.pid()
        ready = pid is not None and cluster_ready(self.bootstrap, security_=PLAINTEXT)
        detail = "ready" if ready else "running, not answering metadata requests" if pid else "not running"
        return BrokerStatus(pid is not None, ready, pid, self.bootstrap, detail)

    def start(self) -> BrokerStatus:
        """Fetch, format and start the broker, then wait until it answers; idempotent."""
        self.launch()
        return self.status()
