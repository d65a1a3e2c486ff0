"""Fixtures every test directory shares: one code sandbox (a real bubblewrap jail) per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from synthstream.agents.verification.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The jail the verifier uses. Off CI a machine without bubblewrap skips; CI installs it, never skips."""
    box = Sandbox()
    if box.mode != "bwrap" and not os.environ.get("CI"):
        pytest.skip(f"no bubblewrap jail on this machine: {box.why}")
    yield box
    box.close()
