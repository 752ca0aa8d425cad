"""The Training page: per persona, prepare data, train, register, and pick LoRA or prompt-only.

Every action is a background job running the same CLI a user would (`council.jobs`); the page
polls `/api/jobs/<id>` for progress, loss and the log's tail. What each persona has (pairs,
adapter, registered model) is read from disk and the database on every request, so a restart
shows exactly what is there, including the partial outputs of an interrupted job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select

from ..config import Settings
from ..db import session_scope
from ..extensions import get_backends, get_jobs, get_settings
from ..files import AdapterFiles, PersonaFiles
from ..jobs import job_payload
from ..llm import server_urls_of
from ..models import Job, Persona
from ..personas import list_personas
from ..training.base_model import base_problem, training_base
from ..training.data import split_note
from ..training.environment import check_environment
from ..training.llama_eval import held_out_figure
from ..training.ollama_register import ServerRoute, plan_ollama
from ..training.register import RegistrationError, set_variant
from ..training.train import MODES
from ..variants import Serving, has_adapter_file, plan_answer
from .fit import registration_effects
from .inputs import json_body, text_field
from .responses import json_error

bp = Blueprint("training", __name__)
ACTIONS = {"data": "lora-data", "train": "lora-train", "register": "lora-register"}
MAX_EXAMPLES = 5000
MAX_STEPS = 100_000


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def pairs_state(train: int, held_out: int) -> dict[str, Any]:
    """The pairs, and when there is no eval split what that means and how to get one."""
    return {"train": train, "eval": held_out, "note": split_note(train, held_out)}


def persona_state(settings: Settings, persona: Persona, jobs: list[Job], gpu: bool,
                  serving: Serving) -> dict[str, Any]:
    """What the page shows for one persona: data, base, adapter, model, variant (asked for, and
    what this backend serves of it: only what registration verified here), latest job."""
    train, evaluation, _ = PersonaFiles.in_data_dir(settings.data_dir).training_pairs(
        persona.slug)
    metadata = AdapterFiles(settings.loras_dir, persona.slug).read_metadata()
    adapter = None if metadata is None else {
        **{k: metadata.get(k) for k in ("state", "steps", "max_steps", "final_loss",
                                        "eval_loss", "duration_s", "backend", "base_model",
                                        "registration")},
        "llama_cpp_eval": held_out_figure(metadata.get("llama_cpp_eval"))}
    mine = [job for job in jobs if job.args.get("persona") == persona.slug]
    base = training_base(settings, persona)
    record = persona.adapter_served or {}
    return {"slug": persona.slug, "name": persona.name, "color": persona.color,
            "data": pairs_state(_count_lines(train), _count_lines(evaluation)),
            "base_model": base, "train_blocked": base_problem(base, gpu),
            "adapter": adapter, "adapter_model": persona.adapter_model,
            "can_mix": has_adapter_file(persona) and settings.backend == "embedded",
            "variant": persona.current_variant,
            "answers": plan_answer(persona, [], serving, settings.worker_model).variant,
            "served_on": [{k: server.get(k) for k in ("host", "version", "method")}
                          for server in record.get("servers") or []],
            "prompt_model": persona.model or settings.worker_model,
            "job": job_payload(mine[0]) if mine else None}


def _training_jobs(session: Any) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.kind.in_(ACTIONS.values()))
                                .order_by(Job.id.desc())))


def serve_plan(settings: Settings) -> dict[str, Any] | None:
    """With Ollama: what Register will try on each worker server (the adapter, a merged model
    if it is refused, with its size and time), or why it cannot; and per persona how that
    changes the models a round needs there (`fit`). Said before it starts."""
    if settings.backend != "ollama":
        return None
    try:
        plan = plan_ollama(server_urls_of(settings, "ollama", settings.worker_hosts),
                           settings.train_base_model, settings.ollama_quantize, timeout=2.0,
                           worker_base=settings.worker_model)
    except RegistrationError as exc:
        return {"text": str(exc), "problem": True, "merges": False, "fit": {}}
    methods = {route.host: _expected_method(route) for route in plan.routes}
    return {"text": plan.describe(), "problem": bool(plan.problem), "merges": plan.merges,
            "fit": registration_effects(settings, methods)}


def _expected_method(route: ServerRoute) -> str:
    """What the hints say a server will end up serving: the merged model where its engine
    cannot apply adapters, either where a refusal is reported, else the adapter model."""
    if route.adapter_fails:
        return "merged"
    return "either" if route.refusal_reported else "adapter"


def _page_state(settings: Settings, gpu: bool) -> list[dict[str, Any]]:
    serving = Serving.of(get_backends().workers)
    with session_scope() as session:
        jobs = _training_jobs(session)
        return [persona_state(settings, p, jobs, gpu, serving) for p in list_personas(session)]


@bp.get("/training")
def page() -> str:
    settings = get_settings()
    report = check_environment()
    return render_template("training/index.html",
                           personas=_page_state(settings, report.can_train_gpu), check=report,
                           modes=list(MODES), backend=settings.backend)


@bp.get("/api/training")
def state() -> Any:
    settings = get_settings()
    return jsonify({"personas": _page_state(settings, check_environment().can_train_gpu),
                    "serve_plan": serve_plan(settings)})


def _bounded_int(payload: dict[str, Any], key: str, low: int, high: int) -> int | None:
    raw = payload.get(key)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{key.replace('_', ' ')} must be a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{key.replace('_', ' ')} must be between {low} and {high}")
    return value


@bp.post("/api/training/<slug>/<action>")
def launch(slug: str, action: str) -> Any:
    if action not in ACTIONS:
        return json_error(f"Unknown action {action!r}: use data, train or register.", 404)
    payload = json_body()
    settings = get_settings()
    with session_scope() as session:
        persona = session.scalars(select(Persona).where(Persona.slug == slug)).first()
        if persona is None:
            return json_error(f"There is no persona {slug!r}.", 404)
        base = training_base(settings, persona)
    if action == "train":
        problem = base_problem(base, check_environment().can_train_gpu)
        if problem:
            return json_error(problem, 409)
    args: dict[str, Any] = {"persona": slug}
    try:
        if action == "data":
            args["examples"] = _bounded_int(payload, "examples", 1, MAX_EXAMPLES)
        if action == "train":
            args["max_steps"] = _bounded_int(payload, "max_steps", 1, MAX_STEPS)
            mode = payload.get("mode") or "8GB"
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            args["mode"] = mode
    except ValueError as exc:
        return json_error(f"{str(exc)[0].upper()}{str(exc)[1:]}.", 400)
    job_id = get_jobs().submit(ACTIONS[action], args)
    return jsonify({"job_id": job_id}), 202


@bp.post("/api/training/<slug>/variant")
def variant(slug: str) -> Any:
    payload = json_body()
    with session_scope() as session:
        persona = session.scalars(select(Persona).where(Persona.slug == slug)).first()
        if persona is None:
            return json_error(f"There is no persona {slug!r}.", 404)
        try:
            set_variant(persona, text_field(payload, "variant"))
        except RegistrationError as exc:
            return json_error(str(exc), 400)
        plan = plan_answer(persona, [], Serving.of(get_backends().workers),
                           get_settings().worker_model)
        return jsonify({"slug": slug, "variant": persona.current_variant, "model": plan.model})
