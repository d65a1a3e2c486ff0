"""The local broker's KRaft cluster id is never read as a command-line option by the storage tool."""

from __future__ import annotations

import base64
import uuid

from synthstream.streams.app.kafka_local import launcher


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch) -> None:
    ids = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(bytes=bytes(16))])  # the first encodes to '-w...'
    assert base64.urlsafe_b64encode(b"\xfb" + bytes(15)).decode().startswith("-")
    monkeypatch.setattr(launcher.uuid, "uuid4", lambda: next(ids))
    assert launcher.cluster_id() == base64.urlsafe_b64encode(bytes(16)).decode().rstrip("=")


def test_cluster_ids_are_22_url_safe_characters() -> None:
    for _ in range(500):
        cid = launcher.cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert set(cid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
