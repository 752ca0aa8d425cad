"""A job row stays small whatever its process prints: it is stored and sent on every poll, so
200,000 warnings or a flood of stderr become a summary of a few KB, with the full text kept in
the job's log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from council import jobs
from council.config import Settings
from council.extensions import get_jobs
from council.job_messages import MAX_MESSAGE_CHARS, cut, error_message, summarise
from council.web.jobs import LOG_TAIL_BYTES
from tests.jobs import wait_for_job

FLOOD = 200_000
# a poll's answer: the message, the log's tail and the other fields (escapes counted)
POLL_LIMIT = 2 * MAX_MESSAGE_CHARS + LOG_TAIL_BYTES + 2_000


def run_script(app: Flask, monkeypatch: pytest.MonkeyPatch, script: str) -> dict[str, Any]:
    """Run `script` as a discovery job's process; the job as the API sends it when final, and
    the size of that answer in bytes."""
    monkeypatch.setattr(jobs, "job_command", lambda *_: [sys.executable, "-c", script])
    job_id = get_jobs(app).submit("discover", {"input": "x", "upload": "x"})
    job = wait_for_job(app.test_client(), job_id)[-1]
    return {**job, "poll_bytes": len(app.test_client().get(f"/api/jobs/{job_id}").data)}


def test_200k_warnings_become_a_bounded_summary(app: Flask, settings: Settings,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    job = run_script(app, monkeypatch, (
        "import json; "
        "print(json.dumps({'stage': 'parse ' + 'x' * 100_000, 'done': 1, 'total': 2})); "
        f"print(json.dumps({{'stage': 'done', 'personas': ['a'], "
        f"'warnings': [f'conversation {{i}} has no title' for i in range({FLOOD})]}}))"))
    assert job["state"] == "done"
    assert len(job["message"]) <= MAX_MESSAGE_CHARS
    assert job["poll_bytes"] < POLL_LIMIT, "the whole row as sent on a poll"
    message = job["message"]
    assert message.startswith("conversation 0 has no title\nconversation 1 has no title")
    shown = message.count("has no title")
    log = settings.data_dir / "jobs" / f"job-{job['id']}.log"
    assert message.endswith(f"… and {FLOOD - shown:,} more warnings (in {log})")
    assert log.read_text(encoding="utf-8").count("has no title") == FLOOD, "all kept in the log"


def test_a_stderr_flood_becomes_the_error_line_and_a_count(app: Flask, settings: Settings,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    job = run_script(app, monkeypatch, (
        "import sys; "
        f"sys.stderr.writelines(f'warning: message {{i}} is odd\\n' for i in range({FLOOD})); "
        "print('error: the export is broken ' + 'y' * 50_000, file=sys.stderr); sys.exit(2)"))
    assert job["state"] == "failed"
    assert len(job["message"]) <= MAX_MESSAGE_CHARS
    assert job["poll_bytes"] < POLL_LIMIT
    log = settings.data_dir / "jobs" / f"job-{job['id']}.log"
    assert job["message"].startswith("the export is broken yyy")
    assert "more characters)" in job["message"]
    assert job["message"].endswith(f"({FLOOD:,} more lines in {log})")


def test_a_crash_without_an_error_line_names_the_exit_code_and_last_line(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    job = run_script(app, monkeypatch, "import sys; print('boom', file=sys.stderr); sys.exit(3)")
    assert job["message"].endswith("stopped with exit code 3: boom")


def test_cut_and_summarise_keep_short_text_whole() -> None:
    assert cut("short") == "short"
    assert cut("x" * 600) == "x" * 500 + "… (100 more characters)"
    assert summarise([], "warning", "the log") is None
    assert summarise(["one", "two"], "warning", "the log") == "one\ntwo"
    many = summarise(["w" * 400] * 20, "warning", "the log")
    assert many is not None and len(many) <= MAX_MESSAGE_CHARS
    assert many.endswith("more warnings (in the log)")
    one_more = summarise(["w" * 400] * 10, "warning", "the log")
    assert one_more is not None and one_more.endswith("… and 1 more warning (in the log)")


def test_the_log_path_is_reported_even_when_the_log_cannot_be_read(tmp_path: Path) -> None:
    assert error_message(tmp_path / "missing.log", 9, "council discover") == \
        "council discover stopped with exit code 9"


def test_a_progress_line_with_huge_text_is_cut() -> None:
    progress = jobs.progress_update({}, {"stage": "s" * 100_000, "state": "t" * 100_000})
    assert len(progress["stage"]) < 300 and len(progress["state"]) < 300


def test_a_job_error_naming_a_url_with_credentials_is_stored_without_them(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why: a registration's error names the Ollama host, which may carry user:password@."""
    job = run_script(app, monkeypatch, (
        "import sys; print('error: cannot reach Ollama at http://admin:hunter2@gpu:11434', "
        "file=sys.stderr); sys.exit(2)"))
    assert job["message"] == "cannot reach Ollama at http://***@gpu:11434"
