"""The direct SASL login of the connection probe: SCRAM against RFC 7677's worked example, the
request and answer encodings, and its verdict at each step a fake broker hangs up or answers."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from synthstream.streams.runtime import sasl_check
from synthstream.streams.runtime.kafka_io import Security
from synthstream.streams.runtime.sasl_check import Scram


def test_scram_sha_256_matches_rfc_7677():
    scram = Scram("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert scram.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    assert scram.final(server_first) == (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                         b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")


def test_scram_escapes_the_user_name():
    assert Scram("SCRAM-SHA-512", "a=b,c", "x", nonce="n").first() == b"n,,n=a=3Db=2Cc,r=n"


def test_a_request_is_framed_with_its_header():
    frame = sasl_check.request(17, 1, 7, sasl_check.handshake_body("PLAIN"))
    (size,) = struct.unpack_from(">i", frame)
    assert size == len(frame) - 4
    assert struct.unpack_from(">hhi", frame, 4) == (17, 1, 7)
    assert frame.endswith(b"\x00\x05PLAIN")


def handshake_answer(error: int, mechanisms: list[str]) -> bytes:
    body = struct.pack(">hi", error, len(mechanisms))
    for name in mechanisms:
        body += struct.pack(">h", len(name)) + name.encode()
    return body


def authenticate_answer(error: int, message: str | None, token: bytes) -> bytes:
    text = b"" if message is None else message.encode()
    return (struct.pack(">hh", error, -1 if message is None else len(text)) + text
            + struct.pack(">i", len(token)) + token)


def test_answers_parse():
    assert sasl_check.parse_handshake(handshake_answer(0, ["PLAIN", "SCRAM-SHA-256"])) == (
        0, ["PLAIN", "SCRAM-SHA-256"])
    assert sasl_check.parse_authenticate(authenticate_answer(58, "bad", b"")) == (58, "bad", b"")
    assert sasl_check.parse_authenticate(authenticate_answer(0, None, b"r=x")) == (0, "", b"r=x")


class FakeBroker:
    """Answers the SASL requests from a script: each entry is an answer body, or None to hang up."""

    def __init__(self, script: list[bytes | None]) -> None:
        self.script = list(script)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.server.getsockname()[1]}"

    def serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(10)
            for answer in self.script:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                frame = conn.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
                self.received.append(frame)
                if answer is None:
                    return
                correlation = struct.unpack_from(">i", frame, 4)[0]
                reply = struct.pack(">i", correlation) + answer
                conn.sendall(struct.pack(">i", len(reply)) + reply)

    def close(self) -> None:
        self.thread.join(10)
        self.server.close()


def plain(mechanism: str = "PLAIN", password: str = "pw") -> Security:
    return Security(protocol="SASL_PLAINTEXT", mechanism=mechanism, username="u", password=password)


@pytest.mark.parametrize("script, verdict", [
    ([handshake_answer(0, ["PLAIN"]), authenticate_answer(0, None, b"")], sasl_check.ACCEPTED),
    ([handshake_answer(0, ["PLAIN"]), authenticate_answer(58, "Authentication failed", b"")], sasl_check.REFUSED),
    ([handshake_answer(0, ["PLAIN"]), None], sasl_check.REFUSED),  # hung up on the credentials
    ([None], sasl_check.UNKNOWN),  # hung up before them: not a verdict on the credentials
    ([handshake_answer(33, ["SCRAM-SHA-512"])], sasl_check.UNSUPPORTED),
])
def test_the_verdict_follows_where_the_broker_answers_or_hangs_up(script, verdict):
    broker = FakeBroker(script)
    try:
        outcome = sasl_check.check(broker.bootstrap, plain(), timeout_s=5)
    finally:
        broker.close()
    assert outcome.verdict == verdict, outcome
    if verdict == sasl_check.UNSUPPORTED:
        assert outcome.detail == "SCRAM-SHA-512"
    if len(broker.received) > 1:
        assert broker.received[1].endswith(struct.pack(">i", 5) + b"\0u\0pw")  # PLAIN's one message
    assert "pw" not in outcome.detail


def test_scram_sends_its_proof_after_the_server_first_message():
    server_first = b"r=clientnonce-server,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    broker = FakeBroker([handshake_answer(0, ["SCRAM-SHA-256"]), authenticate_answer(0, None, server_first),
                         authenticate_answer(58, "invalid credentials", b"")])
    try:
        outcome = sasl_check.check(broker.bootstrap, plain("SCRAM-SHA-256"), timeout_s=5)
    finally:
        broker.close()
    assert outcome == sasl_check.Outcome(sasl_check.REFUSED, "invalid credentials")
    assert b"c=biws,r=clientnonce-server,p=" in broker.received[2]


def test_nothing_listening_is_no_verdict():
    port = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{port.getsockname()[1]}"
    port.close()
    assert sasl_check.check(address, plain(), timeout_s=2).verdict == sasl_check.UNKNOWN
