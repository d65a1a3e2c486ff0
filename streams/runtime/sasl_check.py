"""One SASL login, spoken directly, to tell why a SASL client could not connect.

kafka-python says why a bootstrap failed only in its log, and a broker that refuses the
credentials does not always get its error answer out before it closes the connection: on a
loaded machine the client sees only "socket disconnected" after sending its proof, the same
line a listener that expects TLS produces. So when a SASL client's probe fails, the probe logs in
once itself (TLS if the protocol has it, SaslHandshake v1, SaslAuthenticate v0 with PLAIN or
SCRAM-SHA-256/512) and knows at which step the broker answered or hung up:

- an error answer to the credentials, or the connection closed right after they were sent
  (what Kafka does when it refuses them): ``REFUSED``;
- the handshake answers without the mechanism asked for: ``UNSUPPORTED`` and the broker's list;
- the credentials accepted: ``ACCEPTED`` (the probe's failure is something else);
- anything else (no connection, TLS failed, the broker hung up before the credentials):
  ``UNKNOWN``, and the probe falls back to what the client logged.

The password is sent and never logged or returned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

ACCEPTED, REFUSED, UNSUPPORTED, UNKNOWN = "accepted", "refused", "unsupported", "unknown"
SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
CLIENT_ID = b"synthstream-sasl-check"


@dataclass(frozen=True)
class Outcome:
    verdict: str
    detail: str = ""


class _Closed(Exception):
    """The broker closed the connection."""


# --- the wire: request header v1, the two SASL requests and their answers (non-flexible versions)

def request(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    return struct.pack(">i", len(header) + len(body)) + header + body


def handshake_body(mechanism: str) -> bytes:
    name = mechanism.encode()
    return struct.pack(">h", len(name)) + name


def authenticate_body(token: bytes) -> bytes:
    return struct.pack(">i", len(token)) + token


def parse_handshake(body: bytes) -> tuple[int, list[str]]:
    error, count = struct.unpack_from(">hi", body, 0)
    at, mechanisms = 6, []
    for _ in range(max(count, 0)):
        (size,) = struct.unpack_from(">h", body, at)
        mechanisms.append(body[at + 2:at + 2 + size].decode(errors="replace"))
        at += 2 + size
    return error, mechanisms


def parse_authenticate(body: bytes) -> tuple[int, str, bytes]:
    (error,) = struct.unpack_from(">h", body, 0)
    (size,) = struct.unpack_from(">h", body, 2)
    at = 4 + max(size, 0)
    message = body[4:at].decode(errors="replace") if size >= 0 else ""
    (token_size,) = struct.unpack_from(">i", body, at)
    return error, message, body[at + 4:at + 4 + max(token_size, 0)]


# --- SCRAM (RFC 5802, RFC 7677)

class Scram:
    """The client side of one SCRAM exchange: ``first()``, then ``final(server_first)``."""

    def __init__(self, mechanism: str, username: str, password: str, nonce: str | None = None) -> None:
        self.hash = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        self.password = password.encode()
        user = username.replace("=", "=3D").replace(",", "=2C")
        self.bare = f"n={user},r={nonce or base64.b64encode(os.urandom(24)).decode()}"

    def first(self) -> bytes:
        return f"n,,{self.bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(","))
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", self.hash)
        stored = hashlib.new(self.hash, client_key).digest()
        without_proof = f"c=biws,r={fields['r']}"
        signature = hmac.digest(stored, f"{self.bare},{text},{without_proof}".encode(), self.hash)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


# --- one login

def check(bootstrap: str, security: Any, timeout_s: float = 10.0) -> Outcome:
    """Log in once to the first broker of ``bootstrap`` with ``security``'s (a kafka_io.Security)
    SASL settings and say how it went."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    deadline = time.monotonic() + timeout_s
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except (OSError, ValueError):
        return Outcome(UNKNOWN, "no connection")
    try:
        if security.ssl:
            conn = security.ssl_context().wrap_socket(conn, server_hostname=host.strip("[]"))
        return _login(conn, security, deadline)
    except (OSError, ValueError):
        return Outcome(UNKNOWN, "TLS or the connection failed before the credentials were sent")
    finally:
        conn.close()


def _login(conn: socket.socket, security: Any, deadline: float) -> Outcome:
    try:
        error, mechanisms = parse_handshake(_call(conn, SASL_HANDSHAKE, 1, 1, handshake_body(security.mechanism),
                                                  deadline))
    except (_Closed, struct.error, OSError):
        return Outcome(UNKNOWN, "the broker hung up before the credentials were sent")
    if security.mechanism not in mechanisms:
        return Outcome(UNSUPPORTED, ", ".join(mechanisms))
    if error:
        return Outcome(UNKNOWN, f"SaslHandshake error {error}")
    password = security.password or ""
    scram = None if security.mechanism == "PLAIN" else Scram(security.mechanism, security.username or "", password)
    token = f"\0{security.username or ''}\0{password}".encode() if scram is None else scram.first()
    for correlation in (2, 3):  # PLAIN: one message; SCRAM: client-first, then client-final
        try:
            error, message, answer = parse_authenticate(
                _call(conn, SASL_AUTHENTICATE, 0, correlation, authenticate_body(token), deadline))
        except (_Closed, OSError):
            # Kafka closes a connection in authentication only when it refuses it; under load the
            # error answer may not get out first
            return Outcome(REFUSED, "the broker closed the connection on receiving the credentials")
        except struct.error:
            return Outcome(UNKNOWN, "an answer that could not be read")
        if error:
            return Outcome(REFUSED, message)
        if scram is None or correlation == 3:
            break
        token = scram.final(answer)
    return Outcome(ACCEPTED)


def _call(conn: socket.socket, api_key: int, version: int, correlation_id: int, body: bytes,
          deadline: float) -> bytes:
    conn.settimeout(max(deadline - time.monotonic(), 0.1))
    conn.sendall(request(api_key, version, correlation_id, body))
    (size,) = struct.unpack(">i", _read(conn, 4))
    answer = _read(conn, size)
    (got,) = struct.unpack_from(">i", answer, 0)
    if got != correlation_id:
        raise struct.error(f"answer to request {got}, expected {correlation_id}")
    return answer[4:]


def _read(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise _Closed()
        data += chunk
    return bytes(data)
