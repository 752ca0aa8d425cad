"""Analytics' evaluation section: `/api/eval`, starting an eval job over HTTP (what it checks and
the command it runs), a run's files, and the section in Chromium with a stored report and with
none.

Why: the section is how a person runs `council eval` without a terminal and reads whether the
council beats a model alone; a bad field must be refused with a reason before a job starts,
a resume must be the same command again, and the report must read as report.md does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from council.config import Settings
from council.db import session_scope
from council.evaluation.report import AnswerRecord, PairRecord, build_report, write_report
from council.evaluation.stats import TIE, WIN
from council.jobs import done_progress, job_command
from council.models import EvalRun, Job
from tests.browser import ROUND_TIMEOUT_MS, SCREENSHOTS
from tests.jobs import wait_for_job

EVAL_SCREENSHOT = SCREENSHOTS / "analytics-eval.png"
ARGS = {"limit": 20, "contestants": ["solo", "personas"]}  # an eval job's, in the browser
RUN = {"question_set": "shipped", "questions": 12, "checkable": 4, "judge": "judge-model",
       "judge_is_contestant": False, "backend": "ollama", "worker_model": "w", "synth_model": "s",
       "started_at": "2026-01-01T10:00:00+00:00", "finished_at": "2026-01-01T10:20:00+00:00",
       "seed": 1}


def sample_report() -> dict[str, Any]:
    """council beat solo on 11 of 12 open questions (one tie); solo vs worker on 3, one
    verdict missing; exact match on four checkable questions."""
    contestants = ["council", "solo", "worker"]
    pairs = [PairRecord(f"o{i}", "council", "solo", TIE if i == 0 else WIN, True, 20)
             for i in range(12)]
    pairs += [PairRecord("o0", "solo", "worker", WIN, True, 5),
              PairRecord("o1", "solo", "worker", TIE, False, 0),
              PairRecord("o2", "solo", "worker", None, None, 0)]
    answers = [AnswerRecord(f"c{i}", name, "done", "42", 2.0 + i, 30 + i, i < right)
               for name, right in (("council", 3), ("solo", 2), ("worker", 1)) for i in range(4)]
    return build_report(RUN, contestants, answers, pairs)


def store_run(session: Session, out_dir: Path, state: str = "done") -> int:
    report = sample_report()
    if state == "done":
        write_report(report, out_dir)
    run = EvalRun(question_set="shipped", contestants=["council", "solo", "worker"],
                  judge="judge-model", out_dir=str(out_dir), state=state,
                  report=report if state == "done" else None)
    session.add(run)
    session.flush()
    return run.id


def test_job_command_turns_eval_args_into_flags(settings: Settings) -> None:
    base = [sys.executable, "-m", "council", "eval", "--data-dir", str(settings.data_dir),
            "--progress", "json"]
    assert job_command(settings, "eval", {}) == base
    assert job_command(settings, "eval", {"questions": "shipped"}) == base
    assert job_command(settings, "eval", {
        "limit": 5, "judge": "qwen2.5:7b", "questions": "/q/set.jsonl",
        "contestants": ["council", "solo"], "also": ["phi3:mini", "llama3.2:1b"]}) == [
        *base, "--limit", "5", "--judge", "qwen2.5:7b", "--questions", "/q/set.jsonl",
        "--contestants", "council,solo", "--also", "phi3:mini", "--also", "llama3.2:1b"]
    final = {"stage": "done", "run_id": 3, "out_dir": "/data/eval/3", "pairs": 3}
    assert done_progress("eval", final) == {**final, "done": 1, "total": 1}


def test_starting_an_eval_job_stores_its_args_and_a_resume_is_the_same_command(
        app: Flask, settings: Settings, tmp_path: Path) -> None:
    client = app.test_client()
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "2+2?", "answer": "4"}\n', encoding="utf-8")
    body = {"limit": "3", "judge": " judge-model ", "questions": str(questions),
            "contestants": ["council", "solo"], "also": ["extra-model"]}
    started = client.post("/api/eval/jobs", json=body)
    assert started.status_code == 202, started.get_json()
    job = started.get_json()["job"]
    args = {"limit": 3, "judge": "judge-model", "questions": str(questions),
            "contestants": ["council", "solo"], "also": ["extra-model"]}
    assert (job["kind"], job["args"], job["id"]) == ("eval", args, started.get_json()["job_id"])
    command = job_command(settings, "eval", job["args"])
    assert command[3:] == ["eval", "--data-dir", str(settings.data_dir), "--progress", "json",
                           "--limit", "3", "--judge", "judge-model", "--questions",
                           str(questions), "--contestants", "council,solo", "--also",
                           "extra-model"]
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait_for_job(client, job["id"])[-1]["state"] in ("cancelled", "failed")
    assert client.get("/api/eval").get_json()["job"]["id"] == job["id"]
    resumed = client.post("/api/eval/jobs", json=job["args"])  # what the Resume button sends
    assert resumed.status_code == 202
    resumed_job = resumed.get_json()["job"]
    assert job_command(settings, "eval", resumed_job["args"]) == command
    client.post(f"/api/jobs/{resumed_job['id']}/cancel")
    wait_for_job(client, resumed_job["id"])


@pytest.mark.parametrize(("body", "reason"), [
    ({"limit": 0}, "Limit must be between 1 and 1000."),
    ({"limit": "many"}, "Limit must be a whole number."),
    ({"judge": 7}, "Judge must be a name, as text."),
    ({"judge": "--data-dir"}, "not starting with '-'"),
    ({"contestants": ["council", "council"]}, "Contestants names one twice."),
    ({"contestants": "council,solo"}, "Contestants must be a list of at most 12 names."),
    ({"also": ["a,b"]}, "no comma"),
    ({"questions": "relative.jsonl"}, "the absolute path of a question file"),
    ({"questions": "/no/such/file.jsonl"}, "there is no file at '/no/such/file.jsonl'"),
    ({"limt": 3}, "Unknown field limt: send limit, judge, questions, contestants, also."),
])
def test_a_bad_eval_request_is_refused_with_its_reason(app: Flask, body: dict[str, Any],
                                                       reason: str) -> None:
    refused = app.test_client().post("/api/eval/jobs", json=body)
    assert refused.status_code == 400
    assert reason in refused.get_json()["error"]
    with session_scope(app) as session:
        assert session.query(Job).count() == 0


def test_api_eval_is_empty_then_shows_the_latest_finished_run(app: Flask,
                                                              tmp_path: Path) -> None:
    client = app.test_client()
    assert client.get("/api/eval").get_json() == {"run": None, "job": None}
    with session_scope(app) as session:
        run_id = store_run(session, tmp_path / "eval-1")
        store_run(session, tmp_path / "eval-2", state="running")  # newer, but no report yet
        # another machine's job: this app's runner never claims it
        session.add(Job(kind="eval", args={"limit": 4}, state="queued", data_dir="elsewhere:/d"))
    data = client.get("/api/eval").get_json()
    run = data["run"]
    assert (run["id"], run["state"], run["out_dir"]) == (run_id, "done", str(tmp_path / "eval-1"))
    assert run["contestants"] == ["council", "solo", "worker"] and run["created_at"]
    assert run["report"] == sample_report()
    assert set(run["files"]) == {"report.md", "chart.svg", "report.json"}
    assert (data["job"]["kind"], data["job"]["state"]) == ("eval", "queued")
    busy = client.post("/api/eval/jobs", json={})
    assert busy.status_code == 409
    assert f"job {data['job']['id']}" in busy.get_json()["error"]

    chart = client.get(run["files"]["chart.svg"])
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert chart.headers["Content-Security-Policy"] == \
        "default-src 'none'; style-src 'unsafe-inline'"
    markdown = client.get(run["files"]["report.md"])
    assert markdown.mimetype == "text/plain" and b"# Evaluation: shipped" in markdown.data
    assert client.get(f"/analytics/eval/{run_id}/council.db").status_code == 404
    assert client.get(f"/analytics/eval/{run_id}/..%2Fcouncil.db").status_code == 404
    assert client.get(f"/analytics/eval/{run_id + 1}/report.md").status_code == 404
    assert client.get(f"/analytics/eval/{run_id + 5}/report.md").status_code == 404


@pytest.mark.browser
def test_the_analytics_page_shows_the_empty_state_then_the_stored_report(
        council_page: tuple[Page, list[str]], tmp_path: Path) -> None:
    page, errors = council_page
    page.goto("/analytics")
    section = page.locator("#eval-section")
    expect(section.locator("#eval-empty")).to_be_visible()
    expect(section.locator("#eval-empty")).to_contain_text("No evaluation yet")
    expect(section.locator("#eval-report")).to_be_hidden()
    expect(section.get_by_label("Judge model")).to_have_attribute("placeholder", "qwen2.5:7b")
    expect(section.get_by_label("Number of questions")).to_have_value("20")

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'council.db'}")
    with Session(engine) as session, session.begin():
        store_run(session, tmp_path / "eval")
    engine.dispose()
    page.reload()
    expect(section.locator("#eval-report")).to_be_visible()
    expect(section.locator("#eval-empty")).to_be_hidden()
    pairs = section.locator("#eval-pairs tbody tr")
    expect(pairs).to_have_count(2)
    expect(pairs.nth(0)).to_contain_text("council")
    expect(pairs.nth(0).locator("td").nth(2)).to_contain_text("96% (")
    expect(pairs.nth(0).locator("td").nth(4)).to_have_text("11 / 0 / 1")
    expect(pairs.nth(1).locator(".provisional")).to_have_text("provisional")
    expect(pairs.nth(1).locator("td").nth(5)).to_have_text("1")
    expect(pairs.nth(1).locator("td").nth(6)).to_have_text("50%")
    contestants = section.locator("#eval-contestants tbody tr")
    expect(contestants).to_have_count(3)
    expect(contestants.nth(0).locator("td").nth(3)).to_contain_text("3 of 4, 75% (")
    expect(contestants.nth(0).locator("td").nth(4)).to_have_text("3.5")
    expect(section.locator("#eval-warnings li")).to_contain_text(["solo vs worker: 2 judged"])
    expect(section.locator("#eval-chart")).to_be_visible()
    expect(section.get_by_role("link", name="report.md")).to_be_visible()
    EVAL_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(EVAL_SCREENSHOT), full_page=True)
    assert errors == []


@pytest.mark.browser
def test_an_eval_job_shows_its_progress_cancels_and_resumes_with_the_same_args(
        council_page: tuple[Page, list[str]], tmp_path: Path) -> None:
    """Contestants without the council, whose router would take the job longer to start."""
    page, errors = council_page
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'council.db'}")
    with Session(engine) as session, session.begin():
        session.add(Job(kind="eval", args=ARGS, state="interrupted",
                        message="The app stopped while this job was queued or running."))
    page.goto("/analytics")
    section = page.locator("#eval-section")
    label = section.locator("#eval-job-label")
    expect(label).to_have_text("Evaluation interrupted: The app stopped while this job was "
                               "queued or running.")
    expect(section.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(section.locator("#eval-resume-hint")).to_contain_text("continues where it stopped")

    section.get_by_role("button", name="Resume").click()  # the same args, run by this app
    cancel = section.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    expect(section.get_by_role("progressbar")).to_be_visible()
    expect(section.get_by_role("button", name="Run evaluation")).to_be_disabled()
    expect(section.get_by_role("button", name="Resume")).to_be_hidden()
    # the command's progress lines
    expect(label).to_have_text(re.compile(r"^Evaluation: answering the questions · \d+ / \d+$"),
                               timeout=ROUND_TIMEOUT_MS)
    cancel.click()
    expect(label).to_have_text("Evaluation cancelled.", timeout=ROUND_TIMEOUT_MS)
    expect(section.get_by_role("button", name="Resume")).to_be_visible()
    with Session(engine) as session:
        jobs = session.query(Job).order_by(Job.id).all()
        assert [(job.args, job.state) for job in jobs] == [(ARGS, "interrupted"),
                                                           (ARGS, "cancelled")]
    engine.dispose()
    assert errors == []


def test_an_eval_job_run_to_the_end_is_the_report_api_eval_shows(app: Flask,
                                                                 tmp_path: Path) -> None:
    """The real command as the job runs it, on the demo server: one checkable question and
    one open one, so one pair judged once."""
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "What is 6 times 7?", "answer": "42"}\n'
                         '{"question": "Should a small team use microservices?"}\n',
                         encoding="utf-8")
    client = app.test_client()
    started = client.post("/api/eval/jobs", json={"questions": str(questions),
                                                  "contestants": ["solo", "pragmatist"]})
    assert started.status_code == 202, started.get_json()
    wait_for_job(client, started.get_json()["job_id"])
    data = client.get("/api/eval").get_json()
    assert data["job"]["state"] == "done", data["job"]
    progress = data["job"]["progress"]
    assert (progress["stage"], progress["done"], progress["total"]) == ("done", 1, 1)
    run = data["run"]
    assert (progress["run_id"], progress["out_dir"], progress["pairs"]) == (
        run["id"], run["out_dir"], 1)
    assert run["question_set"] == str(questions)
    assert [(p["a"], p["b"], p["questions"]) for p in run["report"]["pairs"]] == [
        ("solo", "pragmatist", 1)]
    assert set(run["files"]) == {"report.md", "chart.svg", "report.json"}
