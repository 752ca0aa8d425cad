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
