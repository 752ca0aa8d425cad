"""Every hostile family, at every place, in every upload format and container, costs bounded
memory and time and ends in messages or an ExportError that says what to do (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from council.config import PROJECT_ROOT
from tests.hostile import (
    CONTAINERS,
    FAMILIES,
    GOOD_TEXT,
    UPLOAD_FORMATS,
    Family,
    export_bytes,
    write_export,
)

PEAK_MB = 250  # the parser's process, imports included; nesting 100,000 deep took 3.6 GB
SECONDS = 20.0  # per export, generous: a 256 MB string took 137 s
WARNING_CHARS = 4000  # 200,000 warnings once made a 15 MB job message

CASES = [(family, fmt, place, container) for family in FAMILIES for fmt in UPLOAD_FORMATS
         for place in family.places for container in CONTAINERS]


def case_id(case: tuple[Family, str, str, str]) -> str:
    family, fmt, place, container = case
    return f"{family.name.replace(' ', '-')}:{fmt}:{place}:{container}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case parsed in one subprocess, keyed by case id."""
    folder = tmp_path_factory.mktemp("hostile")
    jobs, ids = [], {}
    for case in CASES:
        family, fmt, place, container = case
        path = write_export(folder / case_id(case).replace(":", "_"),
                            export_bytes(fmt, family, place), container)
        jobs.append({"path": str(path), "env": family.env})
        ids[str(path)] = case_id(case)
    done = subprocess.run([sys.executable, "-m", "tests.hostile.measure"], cwd=PROJECT_ROOT,
                          input=json.dumps(jobs), capture_output=True, text=True, timeout=300,
                          check=True)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    return {ids[answer["path"]]: answer for answer in answers}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hostile_export_is_bounded(case: tuple[Family, str, str, str],
                                   outcomes: dict[str, dict[str, Any]]) -> None:
    family = case[0]
    answer = outcomes[case_id(case)]
    assert answer["outcome"] != "crashed", answer["error"]
    assert answer["peak_mb"] < PEAK_MB, answer
    assert answer["seconds"] < SECONDS, answer
    if family.refused_by:
        assert answer["outcome"] == "refused", answer
        assert f"{family.refused_by}=" in answer["error"], answer["error"]
        assert f"raise {family.refused_by}" in answer["error"], answer["error"]
    elif family.refused_with:
        assert answer["outcome"] == "refused", answer
        assert family.refused_with in answer["error"], answer["error"]
    else:
        assert answer["outcome"] == "parsed", answer
        assert GOOD_TEXT in answer["messages"], answer
        assert len("\n".join(answer["warnings"])) < WARNING_CHARS, answer["warnings"]


def test_every_family_meets_every_format() -> None:
    """The suite's own bound: a family left out of a format would go untested."""
    covered = {(c[0].name, c[1]) for c in CASES}
    assert covered == {(f.name, fmt) for f in FAMILIES for fmt in UPLOAD_FORMATS}
