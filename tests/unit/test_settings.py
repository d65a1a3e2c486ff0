"""One configuration: the root Settings object, its file for worker processes, and its generated docs."""

from __future__ import annotations

import stat
from pathlib import Path

from synthstream.streams.app.config_doc import document
from synthstream.streams.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_page_is_generated_from_the_code():
    assert (ROOT / "docs" / "configuration.md").read_text() == document(), \
        "run: synthstream config-doc --out docs/configuration.md"


def test_every_setting_says_what_it_is_for():
    missing = [f"{group.__name__}.{name}" for group in Settings.GROUPS.values()
               for name, info in group.model_fields.items() if not (info.description or "").strip()]
    assert missing == []


def test_environment_variables_build_the_groups(monkeypatch):
    monkeypatch.setenv("SYNTHSTREAM_BOOTSTRAP", "kafka-1:9092")
    monkeypatch.setenv("SYNTHSTREAM_LLM_MAX_CONCURRENCY", "5")
    monkeypatch.setenv("SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS", "17")
    s = Settings.from_env()
    assert s.kafka.bootstrap_servers == "kafka-1:9092" and s.llm.max_concurrency == 5
    assert s.worker.bias_window_records == 17


def test_a_worker_gets_its_settings_from_the_file_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHSTREAM_LLM_API_KEY", "sk-secret")
    s = Settings.from_env().replace(kafka={"bootstrap": "a:1", "topic_prefix": "run7."},
                                    llm={"base_url": "http://127.0.0.1:9/v1", "max_concurrency": 2},
                                    metrics={"port": 9999})
    path = s.write(tmp_path / "worker.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the API key
    monkeypatch.setenv("SYNTHSTREAM_BOOTSTRAP", "elsewhere:2")
    monkeypatch.setenv("SYNTHSTREAM_LLM_MAX_CONCURRENCY", "64")
    back = Settings.read(path)
    assert back == s
    assert back.kafka.bootstrap == "a:1" and back.llm.max_concurrency == 2 and back.metrics.port == 9999
    assert back.llm.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in back.masked()


def test_replace_validates_what_it_changes():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        Settings.from_env().replace(llm={"max_concurrency": 0})
