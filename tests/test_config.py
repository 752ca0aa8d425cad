"""Settings come from documented environment variables with working defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from council.config import Settings, SettingsError


def test_defaults_point_at_a_local_ollama() -> None:
    settings = Settings.from_env({})
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert (settings.worker_model, settings.synth_model) == ("qwen2.5:3b", "qwen2.5:7b")
    assert settings.host == "127.0.0.1" and settings.port == 5000
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'council.db'}"


def test_environment_overrides(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "OLLAMA_HOST": "http://gpu-box:11434", "COUNCIL_WORKER_MODEL": "llama3.2:3b",
        "COUNCIL_DATA_DIR": str(tmp_path), "COUNCIL_WORKER_TIMEOUT": "30",
        "COUNCIL_MAX_PARALLEL": "8", "COUNCIL_PORT": "5050"})
    assert settings.ollama_host == "http://gpu-box:11434"
    assert settings.worker_model == "llama3.2:3b"
    assert settings.database_url == f"sqlite:///{tmp_path / 'council.db'}"
    assert (settings.worker_timeout, settings.max_parallel_workers, settings.port) == (30.0, 8,
                                                                                       5050)
    explicit = Settings.from_env({"DATABASE_URL": "postgresql://u@localhost/council"})
    assert explicit.database_url == "postgresql://u@localhost/council"


@pytest.mark.parametrize("name,value", [("COUNCIL_WORKER_TIMEOUT", "soon"),
                                        ("COUNCIL_MAX_PARALLEL", "0"),
                                        ("COUNCIL_PORT", "5000.5")])
def test_bad_numbers_are_named_in_the_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_with_changes_moves_the_default_database_with_the_data_dir(tmp_path: Path) -> None:
    moved = Settings.from_env({}).with_changes(data_dir=tmp_path)
    assert moved.database_url == f"sqlite:///{tmp_path / 'council.db'}"
