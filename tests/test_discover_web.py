"""The Discover page's API: upload → discovery job (the real script, a subprocess) → import."""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from council.atomic import write_json_atomic
from council.config import Settings
from council.db import session_scope
from council.extensions import get_jobs
from council.files import STALE_UPLOAD_S, UPLOAD_PREFIX, PersonaFiles
from council.models import Job, as_utc
from council.personas import list_personas
from tests.exports import write_sharegpt_export
from tests.jobs import upload, wait_for_job

# passes the upload's check (its first item is a ShareGPT conversation), fails the job: no
# message in it was written by the user
NO_USER_MESSAGES = b'[{"conversations": [{"from": "gpt", "value": "Hello."}]}]'


def sharegpt_bytes(tmp_path: Path) -> bytes:
    export = tmp_path / "export.json"
    write_sharegpt_export(export)
    return export.read_bytes()


def last_job_on_page(client: FlaskClient) -> Any:
    """The last discovery job as the Discover page hands it to its script."""
    page = client.get("/discover").get_data(as_text=True)
    found = re.search(r'data-last-job="([^"]*)"', page)
    assert found, "the page hands its script the last job"
    return json.loads(html.unescape(found.group(1)))


def test_upload_run_review_and_import(app: Flask, settings: Settings, tmp_path: Path) -> None:
    client = app.test_client()
    assert client.get("/discover").status_code == 200
    missing = client.get("/api/discover/result")
    assert missing.status_code == 404 and "No discovery has run yet" in missing.get_json()["error"]

    response = upload(client, sharegpt_bytes(tmp_path), "my export.json")
    assert response.status_code == 200, response.get_json()
    name = response.get_json()["upload"]
    assert name == "my_export.json"
    assert (settings.data_dir / "personas" / "raw_imports" / name).is_file()
    assert not list((settings.data_dir / "personas" / "raw_imports").glob(".upload-*"))

    # balance 0: this export's three topics are what tells its messages apart
    for refused in (-0.5, 2, "half", True):
        answer = client.post("/api/discover/run", json={"upload": name, "balance": refused})
        assert answer.status_code == 400 and "balance" in answer.get_json()["error"]
    started = client.post("/api/discover/run", json={"upload": name, "clusters": 3,
                                                     "balance": 0})
    assert started.status_code == 202, started.get_json()
    seen = wait_for_job(client, started.get_json()["job_id"])
    final = seen[-1]
    assert final["state"] == "done", final
    assert final["progress"] == {"stage": "done", "done": 3, "total": 3}
    assert final["started_at"] and final["finished_at"]
    stages = {job["progress"].get("stage") for job in seen}
    assert stages & {"starting", "parse", "extract", "embed", "cluster", "name", "prompts"}
    log = settings.data_dir / "jobs" / f"job-{final['id']}.log"
    assert log.is_file()

    result = client.get("/api/discover/result")
    assert result.status_code == 200
    data = result.get_json()
    run = data["run"]
    assert (run["job_id"], run["upload"]) == (final["id"], name)
    assert (datetime.fromisoformat(run["finished_at"])
            == as_utc(datetime.fromisoformat(final["finished_at"])))
    assert last_job_on_page(client)["state"] == "done"
    assert len(data["clusters"]) == 3 and data["balance"] == data["map"]["balance"] == 0.0
    assert sorted(c["size"] for c in data["clusters"]) == [21, 21, 21]
    for cluster in data["clusters"]:
        assert cluster["keywords"] and cluster["characteristics"] and cluster["representatives"]
        assert cluster["prompt"]["system_prompt"] and cluster["prompt"]["source"] == "llm"
    points = data["map"]["points"]
    assert len(points) == 63 and data["map"]["total"] == 63
    assert {p["cluster"] for p in points} == {c["slug"] for c in data["clusters"]}
    assert all(isinstance(p["x"], float) and isinstance(p["y"], float) for p in points)

    chosen = [{"slug": c["slug"], "name": f"Edited {c['name']}"[:80],
               "system_prompt": c["prompt"]["system_prompt"],
               "description": c["prompt"]["description"]} for c in data["clusters"][:2]]
    imported = client.post("/api/discover/import", json={"personas": chosen,
                                                          "on_conflict": "skip"})
    assert imported.status_code == 200, imported.get_json()
    assert len(imported.get_json()["created"]) == 2
    again = client.post("/api/discover/import", json={"personas": chosen, "on_conflict": "skip"})
    assert len(again.get_json()["skipped"]) == 2, "re-import never duplicates"
    page = client.get("/personas/").get_data(as_text=True)
    for entry in chosen:
        assert entry["name"] in page
    with session_scope(app) as session:
        names = {p.name for p in list_personas(session)}
    assert {entry["name"] for entry in chosen} <= names

    bad = client.post("/api/discover/import", json={"personas": [{"slug": "nobody"}]})
    assert bad.status_code == 400


def test_upload_refused_over_the_limit(make_app: Callable[[Settings], Flask],
                                       settings: Settings) -> None:
    client = make_app(settings.with_changes(max_upload_mb=1)).test_client()
    response = upload(client, b"x" * (1024 * 1024 + 200 * 1024))
    assert response.status_code == 413
    assert "COUNCIL_MAX_UPLOAD_MB" in response.get_json()["error"]
    raw = settings.data_dir / "personas" / "raw_imports"
    assert not raw.exists() or not list(raw.iterdir())


def test_upload_needs_a_usable_name(app: Flask) -> None:
    client = app.test_client()
    assert upload(client, b"[]", "../..").status_code == 400
    assert upload(client, b"", "empty.json").status_code == 400
    response = client.post("/api/discover/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert client.post("/api/discover/run", json={"upload": "../x.json"}).status_code == 400
    assert client.post("/api/discover/run", json={"upload": "nope.json"}).status_code == 404


@pytest.mark.parametrize(("data", "says"), [
    (b"hello, not json", "is not JSON"),
    (b'{"not": "an export"}', "not a list of conversations"),
    (b'[{"title": "no messages"}]', "Unknown export format"),
    (b'[{"conversations": [', "not valid JSON"),
])
def test_upload_refuses_what_is_not_an_export(app: Flask, settings: Settings, tmp_path: Path,
                                              data: bytes, says: str) -> None:
    client = app.test_client()
    good = sharegpt_bytes(tmp_path)
    assert upload(client, good, "conversations.json").status_code == 200
    response = upload(client, data, "conversations.json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert says in error and "conversations.json" in error and ".upload-" not in error, error
    stored = settings.data_dir / "personas" / "raw_imports" / "conversations.json"
    assert stored.read_bytes() == good, "a refused upload never replaces the earlier file"
    assert [p.name for p in stored.parent.iterdir()] == ["conversations.json"]


def test_bad_export_fails_with_the_scripts_message(app: Flask) -> None:
    client = app.test_client()
    response = upload(client, NO_USER_MESSAGES, "bad.json")
    assert response.get_json() == {"upload": "bad.json", "size": len(NO_USER_MESSAGES),
                                   "format": "sharegpt"}
    job_id = client.post("/api/discover/run", json={"upload": "bad.json"}).get_json()["job_id"]
    final = wait_for_job(client, job_id)[-1]
    assert final["state"] == "failed"
    assert "no messages written by the user" in final["message"], final["message"]
    assert not final["message"].startswith("error:")
    assert "exit code" not in final["message"], final["message"]
    on_page = last_job_on_page(client)
    assert (on_page["id"], on_page["state"], on_page["message"]) == (job_id, "failed",
                                                                     final["message"])


def test_results_name_the_run_that_wrote_them(app: Flask, settings: Settings,
                                              tmp_path: Path) -> None:
    """A failed run leaves the earlier results, still credited to the run that wrote them;
    results written outside any job (the command line) are credited to none."""
    client = app.test_client()
    upload(client, sharegpt_bytes(tmp_path), "good.json")
    good = client.post("/api/discover/run", json={"upload": "good.json", "clusters": 3})
    assert wait_for_job(client, good.get_json()["job_id"])[-1]["state"] == "done"
    upload(client, NO_USER_MESSAGES, "bad.json")
    bad = client.post("/api/discover/run", json={"upload": "bad.json"}).get_json()["job_id"]
    assert wait_for_job(client, bad)[-1]["state"] == "failed"

    assert last_job_on_page(client)["id"] == bad
    whole = client.get("/api/discover/result").get_json()
    run = whole["run"]
    assert run["job_id"] == good.get_json()["job_id"] and run["upload"] == "good.json"
    assert run["state"] == "done" and whole["whole"], "the failed run wrote none of them"

    prompts = settings.data_dir / "personas" / "prompts" / "generated_prompts.json"
    os.utime(prompts)  # rewritten now, after every job: as `council discover` would
    result = client.get("/api/discover/result").get_json()
    assert result["run"] is None and result["written_at"]


def test_cancel_a_running_job(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    name = upload(client, sharegpt_bytes(tmp_path)).get_json()["upload"]
    first = client.post("/api/discover/run", json={"upload": name}).get_json()["job_id"]
    second = client.post("/api/discover/run", json={"upload": name}).get_json()["job_id"]
    assert client.get(f"/api/jobs/{second}").get_json()["state"] == "queued", "one at a time"
    queued = client.post(f"/api/jobs/{second}/cancel").get_json()
    assert queued["cancelled"] and queued["job"]["state"] == "cancelled"
    deadline = time.monotonic() + 30
    while client.get(f"/api/jobs/{first}").get_json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.post(f"/api/jobs/{first}/cancel").get_json()["cancelled"]
    final = wait_for_job(client, first, 30)[-1]
    assert final["state"] == "cancelled"
    assert not client.post(f"/api/jobs/{first}/cancel").get_json()["cancelled"]
    assert client.post("/api/jobs/9999/cancel").status_code == 404
    get_jobs(app).wait_idle()


def test_running_job_is_interrupted_by_a_restart(make_app: Callable[[Settings], Flask],
                                                 settings: Settings) -> None:
    first = make_app(settings)
    with session_scope(first) as session:
        for state in ("running", "queued", "done"):
            session.add(Job(kind="discover", args={}, state=state, progress={}))
    second = make_app(settings)
    with session_scope(second) as session:
        states = [job.state for job in session.query(Job).order_by(Job.id)]
    assert states == ["interrupted", "interrupted", "done"]
    interrupted = second.test_client().get("/api/jobs/1").get_json()
    assert interrupted["state"] == "interrupted" and "run it again" in interrupted["message"]


def _exports(folder: Path, names: list[str], oldest_age_s: float = 5000) -> None:
    """Files in raw_imports, oldest first, each one second newer than the one before."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for index, name in enumerate(names):
        (folder / name).write_bytes(b"[]")
        age = oldest_age_s - index
        os.utime(folder / name, (now - age, now - age))


def test_a_restart_removes_half_uploads_and_prunes_old_exports(
        make_app: Callable[[Settings], Flask], settings: Settings) -> None:
    raw = settings.data_dir / "personas" / "raw_imports"
    _exports(raw, [f"export-{i}.json" for i in range(7)])
    _exports(raw, [f"{UPLOAD_PREFIX}killed-mid-upload"], oldest_age_s=STALE_UPLOAD_S + 60)
    _exports(raw, [f"{UPLOAD_PREFIX}still-arriving"], oldest_age_s=1)
    first = make_app(settings.with_changes(keep_uploads=100))
    assert len(list(raw.iterdir())) == 8, "the stale half upload is gone, nothing else"
    with session_scope(first) as session:  # the last run read the oldest export
        session.add(Job(kind="discover", args={"upload": "export-0.json"}, state="done"))
    make_app(settings.with_changes(keep_uploads=3))
    assert sorted(p.name for p in raw.iterdir()) == [
        f"{UPLOAD_PREFIX}still-arriving", "export-0.json", "export-4.json", "export-5.json",
        "export-6.json"]


def test_each_upload_keeps_only_the_newest_and_those_in_use(
        make_app: Callable[[Settings], Flask], settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings.with_changes(keep_uploads=2))
    raw = settings.data_dir / "personas" / "raw_imports"
    _exports(raw, ["queued-on.json", "older.json", "old.json"])
    with session_scope(app) as session:  # a queued run reads `queued-on.json`; a later one ran
        session.add(Job(kind="discover", args={"upload": "queued-on.json"}, state="queued"))
        session.add(Job(kind="discover", args={"upload": "older.json"}, state="failed"))
    client = app.test_client()
    assert upload(client, sharegpt_bytes(tmp_path), "new.json").status_code == 200
    assert sorted(p.name for p in raw.iterdir()) == ["new.json", "old.json", "older.json",
                                                     "queued-on.json"]
    assert upload(client, sharegpt_bytes(tmp_path), "newer.json").status_code == 200
    assert sorted(p.name for p in raw.iterdir()) == ["new.json", "newer.json", "older.json",
                                                     "queued-on.json"]


def test_results_an_interrupted_run_partly_rewrote_are_not_whole(
        make_app: Callable[[Settings], Flask], settings: Settings) -> None:
    """The app died while run #2 was writing: its cluster analysis is on disk beside run #1's
    prompts. After the restart the page opens on the interrupted run, and the results say they
    are not whole (the page labels them so) instead of passing for run #1's."""
    now = time.time()

    def moment(age_s: float) -> datetime:
        return datetime.fromtimestamp(now - age_s, UTC)

    first = make_app(settings)
    with session_scope(first) as session:
        session.add(Job(kind="discover", args={"upload": "a.json"}, state="done",
                        started_at=moment(100), finished_at=moment(90)))
        session.add(Job(kind="discover", args={"upload": "b.json"}, state="running",
                        started_at=moment(50)))
    files = PersonaFiles.in_data_dir(settings.data_dir)
    write_json_atomic(files.generated_prompts, {"personas": [
        {"slug": "tinkerer", "name": "The Tinkerer", "system_prompt": "You tinker."}]})
    write_json_atomic(files.cluster_analysis, {"k": 1, "clusters": [
        {"name": "The Tinkerer", "slug": "tinkerer", "size": 3}]})
    os.utime(files.generated_prompts, (now - 95, now - 95))  # run #1's
    os.utime(files.cluster_analysis, (now - 40, now - 40))  # run #2's, before the crash
    client = make_app(settings).test_client()
    assert last_job_on_page(client)["state"] == "interrupted"
    result = client.get("/api/discover/result").get_json()
    assert (result["run"]["job_id"], result["run"]["state"]) == (1, "done")
    assert result["whole"] is False

    os.utime(files.cluster_analysis, (now - 92, now - 92))  # both files run #1's
    assert client.get("/api/discover/result").get_json()["whole"] is True
    os.utime(files.generated_prompts, (now - 40, now - 40))
    os.utime(files.cluster_analysis, (now - 30, now - 30))  # both run #2's: it stopped later
    result = client.get("/api/discover/result").get_json()
    assert (result["run"]["job_id"], result["run"]["state"], result["whole"]) == (
        2, "interrupted", False)
