"""docs/configuration.md, generated from the settings classes (``synthstream config-doc``)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any

from pydantic.fields import FieldInfo

from synthstream.streams.runtime.settings import Settings, env_name

HEADER = """# Configuration

Generated from `streams/runtime/settings.py` by `synthstream config-doc --out docs/configuration.md`;
a test fails when this file and the code disagree.

Every setting is an environment variable with the `SYNTHSTREAM_` prefix. The application layer
reads them once per process into one `Settings` object with the groups below and passes it down;
`synthstream run` hands each worker process it starts the same object as a file
(`synthstream worker --settings FILE`, readable by its owner only: it holds the API key), not
through edited environment variables. Secrets (the API key) are never logged: the start-up log
masks them.

What to generate, and how strictly to verify it, is not here: that is the dataset spec
(`specs/*.yaml`, schema: `synthstream spec schema`, see docs/tasks-and-verification.md).
"""


_HOME = "/HOME-OF-THE-USER"


@contextmanager
def _portable_home():
    """Defaults computed from the home directory are shown as ``~/...``, whoever generates this."""
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}
    os.environ["HOME"] = _HOME
    os.environ.pop("XDG_CACHE_HOME", None)
    os.environ.pop("XDG_STATE_HOME", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _type(info: FieldInfo) -> str:
    text = getattr(info.annotation, "__name__", None) or str(info.annotation)
    text = text.replace("typing.", "").replace("pathlib.", "").replace("pydantic.types.", "")
    return text.replace(" | None", " (optional)").replace("|", "or")


def _default(name: str, info: FieldInfo) -> str:
    if info.default_factory is not None:
        with _portable_home():
            value: Any = str(info.default_factory()).replace(_HOME, "~")  # type: ignore[call-arg]
        note = " (XDG base directories honoured)" if "/.cache/" in str(value) or "/.local/state/" in str(value) else ""
        return f"`{value}`{note}"
    value = info.default
    if value is None:
        return "unset"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    return f"`{value}`"


def _doc(group: type) -> str:
    return " ".join((group.__doc__ or "").split())


def document() -> str:
    parts = [HEADER]
    for attr, group in Settings.GROUPS.items():
        parts.append(f"\n## `{attr}`: {_doc(group)}\n\n| variable | type | default | meaning |\n|---|---|---|---|")
        for name, info in group.model_fields.items():
            meaning = " ".join((info.description or "").split()).replace("|", "\\|")
            parts.append(f"| `{env_name(group, name)}` | {_type(info)} | {_default(name, info)} | {meaning} |")
    return "\n".join(parts) + "\n"
