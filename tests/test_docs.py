"""The README documents every setting, every Socket.IO event and every run.py flag."""

from __future__ import annotations

import re

from council.config import ENVIRONMENT_VARIABLES, PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_environment_variable_is_documented() -> None:
    config_source = (PROJECT_ROOT / "council" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:COUNCIL_|OLLAMA_|OPENAI_|DATABASE_)[A-Z_]+)"', config_source))
    assert read == set(ENVIRONMENT_VARIABLES)
    missing = [name for name in ENVIRONMENT_VARIABLES if f"`{name}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_socketio_event_is_documented() -> None:
    sources = [(PROJECT_ROOT / "council" / "rounds.py").read_text(encoding="utf-8"),
               (PROJECT_ROOT / "council" / "web" / "events.py").read_text(encoding="utf-8")]
    events = set()
    for source in sources:
        events |= set(re.findall(r'emit\(\s*"([a-z_]+)"', source))
        events |= set(re.findall(r'socketio\.on\("([a-z_]+)"\)', source))
    assert {"round_started", "worker_token", "worker_done", "synth_token", "synth_done",
            "round_done", "round_error", "ask", "stop_round"} <= events
    missing = [event for event in sorted(events) if f"`{event}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_run_flag_is_documented() -> None:
    flags = re.findall(r'add_argument\("(--[a-z-]+)"',
                       (PROJECT_ROOT / "run.py").read_text(encoding="utf-8"))
    assert flags
    missing = [flag for flag in flags if f"`{flag}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_quick_start_is_the_two_make_targets() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick_start and "make test" in quick_start
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
