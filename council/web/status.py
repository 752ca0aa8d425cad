"""Is the backend up, and are the models the council needs there? Says how to fix what is not."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from ..db import session_scope
from ..llm.base import LLMError
from ..personas import list_personas

bp = Blueprint("status", __name__)


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def backend_status() -> dict[str, Any]:
    settings = current_app.config["SETTINGS"]
    backend = current_app.extensions["council_llm"]
    health = backend.health()
    with session_scope() as session:
        needed: dict[str, list[str]] = {settings.synth_model: ["synthesizer"]}
        for persona in list_personas(session, enabled_only=True):
            needed.setdefault(persona.model or settings.worker_model, []).append(persona.name)
    present: set[str] = set()
    error = health.error
    if health.reachable:
        try:
            present = {_full_name(m.name) for m in backend.list_models()}
        except LLMError as exc:
            error = str(exc)
    models = [{"name": name, "used_by": users, "present": _full_name(name) in present,
               "fix": None if _full_name(name) in present else f"ollama pull {name}"}
              for name, users in needed.items()]
    fixes = ([f"ollama serve   # or set OLLAMA_HOST (now {health.host})"]
             if not health.reachable else [m["fix"] for m in models if m["fix"]])
    return {"backend": {"kind": health.kind, "host": health.host, "reachable": health.reachable,
                        "version": health.version, "error": error, "demo": settings.demo},
            "models": models, "ready": health.reachable and all(m["present"] for m in models),
            "fixes": fixes}


@bp.get("/status")
def page() -> str:
    return render_template("status/index.html", status=backend_status())


@bp.get("/api/status")
def api() -> Any:
    return jsonify(backend_status())


def template_globals() -> dict[str, Any]:
    settings = current_app.config["SETTINGS"]
    return {"demo_backend": settings.demo, "backend_host": settings.ollama_host,
            "peer_review_default": settings.peer_review}
