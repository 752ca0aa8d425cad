"""Settings come from documented environment variables with working defaults."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest

from council.config import PROJECT_ROOT, VARIABLES, Settings, SettingsError
from council.job_process import PARENT_ENV
from council.jobs import child_environment


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
        "COUNCIL_MAX_PARALLEL": "8", "COUNCIL_PORT": "5050", "COUNCIL_BACKEND": " Embedded",
        "COUNCIL_PEER_REVIEW": "yes", "COUNCIL_KEEP_ALIVE": ""})
    assert settings.ollama_host == "http://gpu-box:11434"
    assert settings.worker_model == "llama3.2:3b"
    assert settings.database_url == f"sqlite:///{tmp_path / 'council.db'}"
    assert (settings.worker_timeout, settings.max_parallel_workers, settings.port) == (30.0, 8,
                                                                                       5050)
    assert settings.backend == "embedded" and settings.peer_review is True
    assert settings.keep_alive == "10m", "an empty variable counts as unset"
    explicit = Settings.from_env({"DATABASE_URL": "postgresql://u@localhost/council"})
    assert explicit.database_url == "postgresql://u@localhost/council"


def test_router_strengths_and_sampling_bounds_have_variables() -> None:
    defaults = Settings.from_env({})
    assert (defaults.router_similarity_scale, defaults.router_gate_strength,
            defaults.router_merit_strength, defaults.router_rule_strength) == (8.0, 1.0, 1.0, 0.5)
    assert (defaults.temperature_bounds, defaults.top_p_bounds) == ((0.1, 1.3), (0.5, 1.0))
    tuned = Settings.from_env({
        "COUNCIL_ROUTER_SIMILARITY_SCALE": "4", "COUNCIL_ROUTER_GATE_STRENGTH": "0",
        "COUNCIL_ROUTER_MERIT_STRENGTH": "2.5", "COUNCIL_ROUTER_RULE_STRENGTH": "1",
        "COUNCIL_TEMPERATURE_BOUNDS": "0.2, 1.1", "COUNCIL_TOP_P_BOUNDS": "0.8,0.95"})
    assert (tuned.router_similarity_scale, tuned.router_gate_strength,
            tuned.router_merit_strength, tuned.router_rule_strength) == (4.0, 0.0, 2.5, 1.0)
    assert (tuned.temperature_bounds, tuned.top_p_bounds) == ((0.2, 1.1), (0.8, 0.95))


@pytest.mark.parametrize("name,value,default", [
    ("COUNCIL_WORKER_TIMEOUT", "soon", "120.0"), ("COUNCIL_MAX_PARALLEL", "0", "4"),
    ("COUNCIL_PORT", "5000.5", "5000"), ("COUNCIL_ROUTER_MIN_WEIGHT", "-1", "0.05"),
    ("COUNCIL_BACKEND", "llama", "auto"), ("COUNCIL_PEER_REVIEW", "maybe", "0"),
    ("COUNCIL_TEMPERATURE_BOUNDS", "1.3", "0.1,1.3"),
    ("COUNCIL_TOP_P_BOUNDS", "1.0,0.5", "0.5,1.0")])
def test_a_bad_value_is_named_with_the_variable_and_the_default(name: str, value: str,
                                                                 default: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} ") and message.endswith(f"(default {default}).")


def test_settings_built_directly_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCIL_PORT", "6001")
    assert Settings().port == 5000
    assert Settings.from_env().port == 6001
    assert Settings.from_env({"COUNCIL_PORT": "6002"}, port=6003).port == 6003


def test_every_setting_but_demo_declares_its_own_variable() -> None:
    declared = [variable.attribute for variable in VARIABLES]
    assert declared == [item.name for item in fields(Settings) if item.name != "demo"]
    assert len({variable.name for variable in VARIABLES}) == len(VARIABLES)
    assert all(variable.doc for variable in VARIABLES)


def test_with_changes_moves_the_default_database_with_the_data_dir(tmp_path: Path) -> None:
    moved = Settings.from_env({}).with_changes(data_dir=tmp_path)
    assert moved.database_url == f"sqlite:///{tmp_path / 'council.db'}"
    kept = Settings.from_env({}).with_changes(data_dir=tmp_path, database_url="sqlite:///x.db")
    assert kept.database_url == "sqlite:///x.db"


def test_a_job_reads_back_the_apps_settings_but_not_the_servers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    for server_only in ("COUNCIL_SECRET_KEY", "COUNCIL_PORT"):
        monkeypatch.delenv(server_only, raising=False)
    app_settings = Settings(
        data_dir=tmp_path, backend="embedded", engine_threads=2, openai_api_key="sk-test",
        peer_review=True, temperature_bounds=(0.3, 0.9), router_rule_strength=0.0,
        model_cache_dir=tmp_path / "models", port=5123, secret_key="s3cret")
    env = child_environment(app_settings)
    assert env["SOMETHING_ELSE"] == "kept" and env["PYTHONUNBUFFERED"] == "1"
    assert env["OPENAI_API_KEY"] == "sk-test"
    assert "COUNCIL_SECRET_KEY" not in env and "COUNCIL_PORT" not in env
    in_job = Settings.from_env(env)
    for variable in VARIABLES:
        if variable.for_jobs:
            assert getattr(in_job, variable.attribute) == getattr(app_settings,
                                                                  variable.attribute)
    assert in_job.database_url == app_settings.database_url


def test_adapters_and_the_model_cache_follow_the_data_dir(tmp_path: Path) -> None:
    """With COUNCIL_DATA_DIR set, nothing runtime defaults into the checkout."""
    default = Settings.from_env({})
    assert default.loras_dir == PROJECT_ROOT / "loras"
    assert default.model_cache_dir == PROJECT_ROOT / "data" / "models"
    moved = Settings.from_env({"COUNCIL_DATA_DIR": str(tmp_path)})
    assert (moved.loras_dir, moved.model_cache_dir) == (tmp_path / "loras", tmp_path / "models")
    assert Settings(data_dir=tmp_path).loras_dir == tmp_path / "loras"
    assert default.with_changes(data_dir=tmp_path).loras_dir == tmp_path / "loras"
    own = Settings.from_env({"COUNCIL_DATA_DIR": str(tmp_path), "COUNCIL_LORAS_DIR": "/srv/a",
                             "COUNCIL_MODEL_CACHE": "/srv/m"})
    assert (own.loras_dir, own.model_cache_dir) == (Path("/srv/a"), Path("/srv/m"))
    assert own.with_changes(data_dir=tmp_path / "x").loras_dir == Path("/srv/a"), \
        "a folder that was set stays where it was set"
    env = child_environment(moved)
    assert env["COUNCIL_LORAS_DIR"] == str(tmp_path / "loras")
    assert env["COUNCIL_MODEL_CACHE"] == str(tmp_path / "models")
    assert env[PARENT_ENV] == str(os.getpid()), "a job knows the app it must die with"
