"""`run.py` refuses to expose the app beyond this machine unless told to."""

from __future__ import annotations

import pytest

import run


def test_binding_a_public_address_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COUNCIL_WORKER_TIMEOUT", "never")
    assert run.main([]) == 2
    assert "COUNCIL_WORKER_TIMEOUT" in capsys.readouterr().err


def test_default_binding_is_loopback_and_remote_binding_warns(
        monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from council.config import Settings

    assert Settings.from_env({}).host == "127.0.0.1"
    served: list[dict] = []
    monkeypatch.setattr(run.socketio, "run", lambda app, **kwargs: served.append(kwargs))
    monkeypatch.setenv("COUNCIL_DATA_DIR", str(tmp_path / "data"))
    assert run.main([]) == 0
    assert served[-1]["host"] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
    assert run.main(["--host", "0.0.0.0", "--allow-remote"]) == 0
    assert served[-1]["host"] == "0.0.0.0"
    assert "warning: binding 0.0.0.0" in capsys.readouterr().err
