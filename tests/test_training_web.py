"""The Training page's API: jobs for data / train / register, cancel, restart, variants."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from flask import Flask

from council import close_app
from council.db import session_scope
from council.files import AdapterFiles, PersonaFiles
from council.llm.demo_server import DemoServer
from council.models import Job
from council.personas import list_personas
from tests.jobs import wait_for_job
from tests.lora_adapters import write_trained_adapter


@pytest.fixture
def settings(settings, tmp_path: Path, tiny_base_model: Path):
    return settings.with_changes(loras_dir=tmp_path / "loras",
                                 train_base_model=str(tiny_base_model))


@pytest.fixture
def slug(app: Flask) -> str:
    with session_scope(app) as session:
        return list_personas(session)[0].slug


def launch(client, slug: str, action: str, **body) -> int:
    response = client.post(f"/api/training/{slug}/{action}", json=body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job_id"]


def persona_state(client, slug: str) -> dict:
    return next(p for p in client.get("/api/training").get_json()["personas"]
                if p["slug"] == slug)


def test_page_lists_personas_and_says_what_can_train(app: Flask) -> None:
    page = app.test_client().get("/training")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No GPU training here" in html and "requirements-train.txt" in html
    assert "--enable-lora" in html and 'data-action="train"' in html


def test_data_train_register_switch_through_jobs(app: Flask, settings, slug: str) -> None:
    client = app.test_client()
    assert persona_state(client, slug)["data"] == {"train": 0, "eval": 0, "note": None}
    done = wait_for_job(client, launch(client, slug, "data", examples=4))[-1]
    assert done["state"] == "done", done
    data = persona_state(client, slug)["data"]
    assert (data["train"], data["eval"]) == (4, 0)  # too few pairs to hold some out ...
    assert "no held-out split" in data["note"] and "at least 12 pairs" in data["note"]

    seen = wait_for_job(client, launch(client, slug, "train", max_steps=12, mode="8GB"))
    final = seen[-1]
    assert final["state"] == "done", (final, final.get("log_tail"))
    assert final["progress"]["state"] == "done" and final["progress"]["steps"] == 12
    losses = final["progress"]["losses"]
    assert [step for step, _ in losses] == list(range(1, 13))
    running = [job for job in seen if job["state"] == "running"
               and job["progress"].get("stage") == "train"]
    assert running and all(j["progress"]["total"] == 12 for j in running)
    state = persona_state(client, slug)
    assert state["adapter"]["state"] == "done" and state["adapter"]["steps"] == 12

    done = wait_for_job(client, launch(client, slug, "register"))[-1]
    assert done["state"] == "done", (done, done.get("log_tail"))
    state = persona_state(client, slug)
    assert state["adapter_model"] == f"persona-{slug}" and state["variant"] == "lora"

    back = client.post(f"/api/training/{slug}/variant", json={"variant": "prompt"})
    assert back.get_json() == {"slug": slug, "variant": "prompt",
                               "model": settings.worker_model}
    assert persona_state(client, slug)["variant"] == "prompt"
    bad = client.post(f"/api/training/{slug}/variant", json={"variant": "both"})
    assert bad.status_code == 400 and "lora" in bad.get_json()["error"]
    mix = client.post(f"/api/training/{slug}/variant", json={"variant": "mix"})
    assert mix.status_code == 400 and "embedded engine" in mix.get_json()["error"]
    assert persona_state(client, slug)["can_mix"] is False


def test_train_is_refused_with_the_fix_when_the_base_is_not_on_this_machine(
        make_app, settings, slug: str) -> None:
    app = make_app(settings.with_changes(train_base_model="nobody/not-a-cached-model-7B"))
    client = app.test_client()
    state = persona_state(client, slug)
    assert "not in the local cache" in state["train_blocked"]
    refused = client.post(f"/api/training/{slug}/train", json={})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert "huggingface-cli download nobody/not-a-cached-model-7B" in error
    assert "COUNCIL_BACKEND=embedded" in error
    with session_scope(app) as session:
        assert session.query(Job).count() == 0, "nothing was queued"


def test_launch_validates_its_input(app: Flask, slug: str) -> None:
    client = app.test_client()
    cases = [(f"/api/training/{slug}/data", {"examples": "many"}, 400, "whole number"),
             (f"/api/training/{slug}/data", {"examples": 0}, 400, "between 1"),
             (f"/api/training/{slug}/train", {"mode": "64GB"}, 400, "Mode must be one of"),
             (f"/api/training/{slug}/launch", {}, 404, "Unknown action"),
             ("/api/training/nobody/train", {}, 404, "no persona")]
    for url, body, status, message in cases:
        response = client.post(url, json=body)
        assert response.status_code == status and message in response.get_json()["error"]
    variant = client.post(f"/api/training/{slug}/variant", json={"variant": "lora"})
    assert variant.status_code == 400 and "no adapter yet" in variant.get_json()["error"]
    with session_scope(app) as session:
        assert session.query(Job).count() == 0, "nothing was launched"


def test_register_without_adapter_fails_with_the_reason(app: Flask, slug: str) -> None:
    client = app.test_client()
    final = wait_for_job(client, launch(client, slug, "register"))[-1]
    assert final["state"] == "failed" and "train it first" in final["message"]


def test_a_register_job_that_leaves_the_persona_prompt_only_says_why(
        app: Flask, settings, slug: str, demo_server: DemoServer, tiny_base_model: Path,
        tmp_path: Path) -> None:
    """Ollama 0.24.0 creates a qwen3 adapter model that cannot answer, and the base cannot be
    imported: the job fails with the reason and the fix, and the card keeps them."""
    demo_server.version = "0.24.0"
    demo_server.add_model("qwen3:4b")
    with session_scope(app) as session:
        next(p for p in list_personas(session) if p.slug == slug).model = "qwen3:4b"
    write_trained_adapter(settings.loras_dir, slug, tiny_base_model)
    neox = tmp_path / "neox"
    shutil.copytree(tiny_base_model, neox)
    config = json.loads((neox / "config.json").read_text())
    (neox / "config.json").write_text(json.dumps({**config,
                                                  "architectures": ["GPTNeoXForCausalLM"]}))
    files = AdapterFiles(settings.loras_dir, slug)
    files.write_metadata({**files.read_metadata(), "base_model": str(neox)})
    client = app.test_client()
    final = wait_for_job(client, launch(client, slug, "register"))[-1]
    assert final["state"] == "failed", final
    assert "stays prompt-only" in final["message"] and "cannot answer" in final["message"]
    assert "0.30" in final["message"] and "COUNCIL_BACKEND=embedded" in final["message"]
    state = persona_state(client, slug)
    assert state["adapter_model"] is None and state["variant"] == "prompt"
    assert state["adapter"]["registration"]["state"] == "prompt-only"
    assert "GPTNeoXForCausalLM" in state["adapter"]["registration"]["reason"]


def test_cancel_stops_training_and_keeps_a_checkpoint(app: Flask, settings, slug: str) -> None:
    client = app.test_client()
    wait_for_job(client, launch(client, slug, "data", examples=4))
    job_id = launch(client, slug, "train", max_steps=100_000)
    deadline = time.monotonic() + 60
    while client.get(f"/api/jobs/{job_id}").get_json()["progress"].get("done", 0) < 2:
        assert time.monotonic() < deadline, client.get(f"/api/jobs/{job_id}").get_json()
        time.sleep(0.1)
    assert client.post(f"/api/jobs/{job_id}/cancel").get_json()["cancelled"] is True
    final = wait_for_job(client, job_id)[-1]
    assert final["state"] == "cancelled"
    folder = settings.loras_dir / slug
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["state"] == "cancelled" and 2 <= metadata["steps"] < 100_000
    assert (folder / f"checkpoint-{metadata['steps']}" / "adapter_model.safetensors").is_file()
    assert persona_state(client, slug)["adapter"]["state"] == "cancelled"


def test_restart_marks_a_running_job_interrupted_and_keeps_its_outputs(
        make_app, settings, slug: str, app: Flask) -> None:
    personas_dir = settings.data_dir / "personas"
    _, _, log = PersonaFiles(personas_dir).training_pairs(slug)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps({"key": "k", "question": "q", "answer": "a" * 50,
                               "dropped": None}) + "\n")
    with session_scope(app) as session:
        session.add(Job(kind="lora-train", args={"persona": slug}, state="running",
                        progress={"stage": "train", "done": 7, "total": 50,
                                  "losses": [[7, 1.5]]}))
    close_app(app)  # the process "dies" with the job still marked running

    restarted = make_app(settings)
    state = persona_state(restarted.test_client(), slug)
    assert state["job"]["state"] == "interrupted"
    assert "run it again" in state["job"]["message"]
    assert state["job"]["progress"]["losses"] == [[7, 1.5]], "the loss curve so far is kept"
    assert log.read_text().strip(), "partial outputs stay on disk"
