"""The docs name every setting, command, CLI flag, HTTP route and Socket.IO event.

What must be documented is read from the code itself (the settings' declaration, the argparse
parsers, the app's URL map, the emit calls), never from the file that documents it.
"""

from __future__ import annotations

import argparse
import re

from flask import Flask

from council.commands import COMMANDS, command_module
from council.commands.settings import markdown_table
from council.config import PROJECT_ROOT, VARIABLES

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
HTTP_API = (PROJECT_ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    return README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def mentions(text: str, flag: str) -> bool:
    """`--demo` in the text as itself, not as the start of `--demo-token-delay`."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings
            if flag.startswith("--") and flag != "--help"]


def test_configuration_table_is_the_declarations_rendering() -> None:
    table = "\n".join(line for line in section("Configuration").splitlines()
                      if line.startswith("|"))
    assert table == markdown_table(), "paste `council settings --markdown` into the README"
    assert all(f"| `{variable.name}` |" in table for variable in VARIABLES)


def test_every_command_and_each_of_its_flags_is_documented() -> None:
    rows = {match.group(1): match.group(0) for match in re.finditer(
        r"^\| `council ([a-z-]+)` \|.*$", section("Command line"), re.MULTILINE)}
    assert set(rows) == set(COMMANDS)
    for name in COMMANDS:
        flags = long_flags(command_module(name).build_parser())
        assert flags, name
        missing = [flag for flag in flags if not mentions(rows[name], flag)]
        assert not missing, f"the README's row for council {name} lacks {missing}"


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    served = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule))
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", HTTP_API,
                                re.MULTILINE))
    assert ("GET", "/api/jobs/<job_id>") in served
    assert not served - documented, f"docs/http-api.md lacks {sorted(served - documented)}"
    assert not documented - served, f"no such route: {sorted(documented - served)}"


def test_every_socketio_event_is_documented() -> None:
    events = set()
    for source in (PROJECT_ROOT / "council").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        events |= set(re.findall(r'emit\(\s*"([a-z_]+)"', text))
        events |= set(re.findall(r'socketio\.on\("([a-z_]+)"\)', text))
    assert {"round_started", "worker_token", "worker_done", "synth_token", "synth_done",
            "round_done", "round_error", "ask", "stop_round"} <= events
    missing = [event for event in sorted(events) if f"`{event}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_quick_start_is_the_two_make_targets() -> None:
    quick_start = section("Quick start")
    assert "make run" in quick_start and "make test" in quick_start
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_the_architecture_map_names_every_module() -> None:
    """docs/architecture.md lists each module by its path, or its package and file name."""
    architecture = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted((PROJECT_ROOT / "council").rglob("*.py")):
        module = path.relative_to(PROJECT_ROOT)
        if "migrations" in module.parts:
            continue
        package = f"{module.parent}/"
        named = str(module) in architecture or (package in architecture and (
            module.name == "__init__.py" or f"`{module.name}`" in architecture))
        if not named:
            missing.append(str(module))
    assert not missing, f"docs/architecture.md lacks {missing}"
