"""`council run` refuses to expose the app beyond this machine unless told to; the `council`
command, `python -m council` and the scripts are one entry point, installed with the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from council.commands import main as council_command
from council.commands import run
from council.config import PROJECT_ROOT, Settings
from council.extensions import get_settings


def test_binding_a_public_address_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COUNCIL_WORKER_TIMEOUT", "never")
    assert council_command(["run"]) == 2
    assert "COUNCIL_WORKER_TIMEOUT" in capsys.readouterr().err


def test_default_binding_is_loopback_and_remote_binding_warns(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert Settings.from_env({}).host == "127.0.0.1"
    served: list[str] = []
    monkeypatch.setattr(run.server, "serve", lambda build, host, *args: served.append(host) or 0)
    monkeypatch.setenv("COUNCIL_DATA_DIR", str(tmp_path / "data"))
    assert run.main([]) == 0
    assert served[-1] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
    assert run.main(["--host", "0.0.0.0", "--allow-remote"]) == 0
    assert served[-1] == "0.0.0.0"
    assert "warning: binding 0.0.0.0" in capsys.readouterr().err


def test_demo_is_run_with_the_demo_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    served: list[Settings] = []

    def serve(build, host, port, threads, on_exit) -> int:  # type: ignore[no-untyped-def]
        app = build()  # what the server's worker does
        served.append(get_settings(app))
        on_exit(app)
        return 0

    monkeypatch.setattr(run.server, "serve", serve)
    monkeypatch.setenv("COUNCIL_DATA_DIR", str(tmp_path / "data"))
    assert council_command(["demo", "--demo-token-delay", "0"]) == 0
    assert served[-1].demo and served[-1].ollama_host.startswith("http://127.0.0.1:")
    assert "demo backend:" in capsys.readouterr().out


def test_the_council_command_lists_and_checks_its_commands(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert council_command(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in ("run", "demo", "discover", "import",
                                                     "train-data", "train", "register"))
    assert council_command([]) == 2 and council_command(["serve"]) == 2
    assert "no command 'serve'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "council", "discover", "--help"],
    [sys.executable, str(PROJECT_ROOT / "scripts" / "extract_personas.py"), "--help"],
    [str(Path(sys.executable).parent / "council"), "train", "--help"]])
def test_entry_points_work_from_outside_the_checkout(command: list[str], tmp_path: Path) -> None:
    """The package is installed (make: pip install -e .), so nothing edits sys.path."""
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: council ")
