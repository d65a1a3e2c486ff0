"""The project against a secured cluster: a real local broker with a SASL_SSL listener (a CA
and server certificate made here, SCRAM users stored when its storage is formatted), and
every client of the project (producer, admin, workers through Faust and aiokafka, the
transactional dedup producers, exporter, outcome watcher) connecting through it with the
SYNTHSTREAM_KAFKA_* security settings only."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from synthstream.streams.app.kafka_local.launcher import LocalKafka, SaslSslListener
from synthstream.streams.runtime import sasl_check
from synthstream.streams.runtime.kafka_io import Security, cluster_problem
from synthstream.streams.runtime.settings import KafkaSettings
from tests.integration.conftest import free_port, free_ports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "trainer", "s3cret-Pa55"


def make_ca_and_server_cert(where: Path) -> tuple[Path, Path]:
    """A self-signed CA, and a certificate it signs for 127.0.0.1: (ca.pem, server.pem with the
    server's unencrypted PKCS#8 key and its certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "synthstream test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, server_pem = where / "ca.pem", where / "server.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return ca_pem, server_pem


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    where = tmp_path_factory.mktemp("secured")
    ca, server = make_ca_and_server_cert(where)
    listener = SaslSslListener(port=free_port(), keystore_pem=server, users={USER: PASSWORD})
    broker = LocalKafka(KafkaSettings(bootstrap=None, kafka_port=free_port(), kafka_controller_port=free_port(),
                                      kafka_data_dir=where / "kafka"), sasl_ssl=listener)
    broker.start()
    try:
        yield listener.bootstrap, ca
    finally:
        broker.stop()


def secured_env(bootstrap: str, ca: Path, tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHSTREAM_")}
    env.update(SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
               SYNTHSTREAM_KAFKA_SASL_MECHANISM="SCRAM-SHA-256", SYNTHSTREAM_KAFKA_SASL_USERNAME=USER,
               SYNTHSTREAM_KAFKA_SASL_PASSWORD=PASSWORD, SYNTHSTREAM_KAFKA_SSL_CAFILE=str(ca),
               SYNTHSTREAM_TOPIC_PREFIX=f"sec{uuid.uuid4().hex[:8]}.", SYNTHSTREAM_METRICS_PORT=str(free_ports(4)),
               SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "w"), COLUMNS="200")
    env.update(changes)
    return env


def synthstream(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_pipeline_runs_end_to_end_through_sasl_ssl(secured, tmp_path):
    bootstrap, ca = secured
    env = secured_env(bootstrap, ca, tmp_path)
    out = tmp_path / "out.jsonl"
    done = synthstream(env, "run", "--spec", str(ROOT / "specs" / "procedural.yaml"), "--count", "60", "--out",
                       str(out), timeout=400)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-4000:]
    rows = out.read_text().splitlines()
    assert len(rows) >= 30, said[-3000:]  # procedural math: most are accepted, a few are duplicates
    assert PASSWORD not in said  # the start-up dump and every message mask it
    for log in (tmp_path.glob("**/*.log")):
        assert PASSWORD not in log.read_text(errors="replace"), log


def test_a_wrong_password_is_one_line_that_says_what_to_fix(secured, tmp_path):
    bootstrap, ca = secured
    env = secured_env(bootstrap, ca, tmp_path, SYNTHSTREAM_KAFKA_SASL_PASSWORD="not-the-password")
    done = synthstream(env, "run", "--spec", str(ROOT / "specs" / "procedural.yaml"), "--count", "5", "--out",
                       str(tmp_path / "out.jsonl"), timeout=120)
    said = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    errors = [line for line in said.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, said
    assert "refused the credentials" in errors[0] and "SYNTHSTREAM_KAFKA_SASL_PASSWORD" in errors[0], said
    assert f"user '{USER}'" in errors[0] and "not-the-password" not in said
    assert "Traceback" not in said


def test_an_untrusted_certificate_and_a_plaintext_client_are_told_apart(secured):
    bootstrap, ca = secured
    good = Security(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username=USER, password=PASSWORD,
                    cafile=str(ca))
    assert cluster_problem(bootstrap, 10.0, good) is None
    untrusted = Security(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username=USER, password=PASSWORD)
    untrusted_says = cluster_problem(bootstrap, 10.0, untrusted) or ""
    assert "not trusted" in untrusted_says and "SYNTHSTREAM_KAFKA_SSL_CAFILE" in untrusted_says, untrusted_says
    plain = cluster_problem(bootstrap, 5.0, Security()) or ""
    assert "expects TLS or SASL" in plain and "SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL" in plain, plain


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_the_direct_login_of_the_probe_tells_good_credentials_from_bad(secured, mechanism):
    """What the probe falls back on when the client's log does not say why: one login of its own."""
    bootstrap, ca = secured
    login = Security(protocol="SASL_SSL", mechanism=mechanism, username=USER, password=PASSWORD, cafile=str(ca))
    assert sasl_check.check(bootstrap, login).verdict == sasl_check.ACCEPTED
    wrong = Security(protocol="SASL_SSL", mechanism=mechanism, username=USER, password="wrong", cafile=str(ca))
    assert sasl_check.check(bootstrap, wrong).verdict == sasl_check.REFUSED
    stranger = Security(protocol="SASL_SSL", mechanism=mechanism, username="nobody", password=PASSWORD,
                        cafile=str(ca))
    assert sasl_check.check(bootstrap, stranger).verdict == sasl_check.REFUSED
