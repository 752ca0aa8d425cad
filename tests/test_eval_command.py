"""`council eval` end to end on the real embedded engine with the bundled model: six shipped
questions, the council, the synthesizer model alone and one persona; a run killed part way
resumes without asking any answer again, and the report holds every figure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from council.config import Settings
from council.db import standalone_session
from council.evaluation.questions import shipped_questions
from council.models import EvalAnswer, EvalRun
from tests.browser import PROJECT_ROOT

CONTESTANTS = ["council", "solo", "pragmatist"]
PAIR_FIELDS = {"a", "b", "questions", "wins", "losses", "ties", "missing", "win_rate",
               "interval", "length_controlled_win_rate", "judge_consistency", "provisional"}
CONTESTANT_FIELDS = {"name", "answers", "failed", "exact_match", "median_seconds",
                     "median_tokens"}


def eval_command(settings: Settings, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **settings.job_environment(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "council", "eval", "--limit", "6", "--contestants",
         ",".join(CONTESTANTS), "--out", str(out), "--progress", "json"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored_answers(settings: Settings) -> int:
    with standalone_session(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(EvalAnswer)) or 0


@pytest.mark.timeout(600)
def test_a_killed_eval_resumes_and_reports_every_figure(settings: Settings,
                                                        tmp_path: Path) -> None:
    settings = settings.with_changes(backend="embedded", demo=False, num_predict=16,
                                     num_ctx=1024, router_top_k=2, worker_timeout=120.0,
                                     synth_timeout=120.0)
    out = tmp_path / "report"
    with eval_command(settings, out) as first:
        assert first.stdout is not None
        for line in first.stdout:  # kill it once some answers are stored, mid-way through
            progress = json.loads(line)
            if progress["stage"] == "answer" and progress["done"] >= 7:
                first.send_signal(signal.SIGKILL)
                break
    kept = stored_answers(settings)
    assert 7 <= kept < 18

    with eval_command(settings, out) as second:
        stdout, stderr = second.communicate(timeout=500)
    assert second.returncode == 0, stderr
    done = json.loads(stdout.strip().splitlines()[-1])
    assert done["stage"] == "done"
    assert (done["answers_cached"], done["answers_new"]) == (kept, 18 - kept)
    assert stored_answers(settings) == 18  # one row per question and contestant: none twice

    report = json.loads((out / "report.json").read_text())
    questions = shipped_questions()[:6]
    open_questions = sum(q.answer is None for q in questions)
    assert report["run"]["questions"] == 6
    assert report["run"]["checkable"] == 6 - open_questions >= 2
    assert report["run"]["judge_is_contestant"] is True  # the synthesizer model judges
    assert any("also a contestant" in warning for warning in report["warnings"])
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [
        ("council", "solo"), ("council", "pragmatist"), ("solo", "pragmatist")]
    for pair in report["pairs"]:
        assert set(pair) == PAIR_FIELDS
        assert pair["wins"] + pair["losses"] + pair["ties"] + pair["missing"] \
            == pair["questions"] == open_questions
    assert [c["name"] for c in report["contestants"]] == CONTESTANTS
    for row in report["contestants"]:
        assert set(row) == CONTESTANT_FIELDS
        assert row["answers"] + row["failed"] == 6
        assert row["exact_match"]["total"] == 6 - open_questions
        assert row["median_seconds"] > 0 and row["median_tokens"] > 0
    assert (out / "report.md").read_text().count("council") >= 2
    assert (out / "chart.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    with standalone_session(settings.database_url) as session:
        runs = list(session.scalars(select(EvalRun).order_by(EvalRun.id)))
    assert [run.state for run in runs] == ["interrupted", "done"]  # the second resumed the first
    assert runs[-1].report == report
