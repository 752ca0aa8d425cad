"""Does the council fit each Ollama server's model slots? Gathered once for the Status page
(every server, what it has loaded, the reloads seen in stored answers, the memory) and the
Training page's plan (how registering a persona changes the count); the logic is
`llm/ollama_fit.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import session_scope
from ..extensions import get_backends, get_settings
from ..llm.ollama_facts import read_facts
from ..llm.ollama_fit import RoundShape, ServerFit, Speaker, fit_server, runners_needed
from ..llm.ollama_reloads import ModelUse, keep_alive_seconds, observed_reloads
from ..models import Comparison, Persona, Synthesis, WorkerAnswer
from ..personas import list_personas
from ..training.register import adapter_model_name
from ..variants import Serving, plan_answer

RECENT = 60  # generations of each kind read for reloads: about the last 20 rounds' answers


def round_shape(settings: Settings) -> RoundShape:
    return RoundShape(settings.router_top_k, settings.max_parallel_workers, settings.synth_model,
                      settings.compare or settings.compare_every > 0, settings.num_ctx)


def speaker_of(persona: Persona, serving: Serving, worker_model: str, host: str) -> Speaker:
    """How `host` answers the persona: its prompt-only model, its adapter model on the base's
    runner, or its merged model (a runner of its own), as registration recorded there."""
    base = persona.model or worker_model
    plan = plan_answer(persona, [], serving, worker_model)
    if plan.variant != "lora" or plan.model == base:
        return Speaker(persona.name, base)
    servers = (persona.adapter_served or {}).get("servers") or []
    method = next((s.get("method") for s in servers if s.get("host") == host), "adapter")
    return (Speaker(persona.name, plan.model) if method == "merged"
            else Speaker(persona.name, base, adapter=plan.model))


def recent_uses(session: Session) -> list[ModelUse]:
    """The latest worker answers, syntheses and solo answers, with their load times."""
    uses = []
    for kind in (WorkerAnswer, Synthesis, Comparison):
        rows = session.scalars(select(kind).order_by(kind.started_at.desc()).limit(RECENT))
        uses += [ModelUse(row.model, row.started_at, row.finished_at,
                          None if row.load_duration_ns is None else row.load_duration_ns / 1e9)
                 for row in rows]
    return uses


def server_fits() -> list[dict[str, Any]]:
    """Each Ollama server that answers: the models a round needs there against what it keeps
    loaded, what is loaded now, reloads seen, and the command and memory that fit."""
    settings = get_settings()
    backends = get_backends()
    if backends.workers.kind != "ollama":
        return []
    serving = Serving.of(backends.workers)
    shape = round_shape(settings)
    fits = []
    with session_scope() as session:
        personas = list_personas(session, enabled_only=True)
        reloads = observed_reloads(recent_uses(session), keep_alive_seconds(settings.keep_alive))
        for server, roles in backends.servers():
            if not server.up:
                continue  # the page already says it is down, and how to start it
            speakers = [speaker_of(p, serving, settings.worker_model, server.host)
                        for p in personas] if "workers" in roles else []
            runners = runners_needed(speakers, shape, "synthesizer" in roles)
            facts = read_facts(server.backend.client, [runner.model for runner in runners])
            fit = fit_server(server.host, runners, shape, facts.models, facts.loaded, reloads)
            fits.append({**fit.as_dict(), "roles": roles, "error": facts.error})
    return fits


def planned_command(settings: Settings, persona_names: Iterable[str]) -> str:
    """The command for Ollama on one machine with every persona prompt-only (what a user
    starting Ollama for the first time needs)."""
    speakers = [Speaker(name, settings.worker_model) for name in persona_names]
    runners = runners_needed(speakers, round_shape(settings), serves_synthesizer=True)
    return fit_server("ollama", runners, round_shape(settings), {}).command


def registration_effects(settings: Settings, methods: dict[str, str]) -> dict[str, str]:
    """Per persona slug: how registering it changes what each workers' server needs, for the
    method registration will use there (`adapter`, `merged`, or anything else: both said)."""
    backends = get_backends()
    serving = Serving.of(backends.workers)
    synth_hosts = {server.host for server, roles in backends.servers() if "synthesizer" in roles}
    shape = round_shape(settings)
    effects = {}
    with session_scope() as session:
        enabled = list_personas(session, enabled_only=True)
        for persona in list_personas(session):
            said = []
            for host, method in methods.items():
                others = [speaker_of(p, serving, settings.worker_model, host)
                          for p in enabled if p.id != persona.id]
                now = others + ([speaker_of(persona, serving, settings.worker_model, host)]
                                if persona in enabled else [])
                said.append(_effect(persona, host, method, others, now, shape,
                                    host in synth_hosts, settings.worker_model))
            effects[persona.slug] = " ".join(said)
    return effects


def _effect(persona: Persona, host: str, method: str, others: list[Speaker],
            now: list[Speaker], shape: RoundShape, synthesizer: bool, worker_model: str) -> str:
    """What registering `persona` on `host` does to the count there, in a sentence per
    outcome."""
    model = adapter_model_name(persona.slug)
    outcomes = {"adapter": Speaker(persona.name, persona.model or worker_model, adapter=model),
                "merged": Speaker(persona.name, model)}
    before = _fit(host, now, shape, synthesizer)
    said = [f"On {host} a round needs {before.needed} model(s) now."]
    for how in [method] if method in outcomes else list(outcomes):
        said.append(_outcome(before, _fit(host, [*others, outcomes[how]], shape, synthesizer),
                             how, persona.name))
    return " ".join(said)


def _fit(host: str, speakers: list[Speaker], shape: RoundShape, synthesizer: bool) -> ServerFit:
    return fit_server(host, runners_needed(speakers, shape, synthesizer), shape, {})


def _outcome(before: ServerFit, after: ServerFit, how: str, name: str) -> str:
    """One sentence: the count after registering `name` one way, and what that costs."""
    change = ("adds a model" if after.needed > before.needed
              else "frees one" if after.needed < before.needed else "keeps the count")
    text = (f"As {'an adapter' if how == 'adapter' else 'a merged'} model, {name} {change}: "
            f"{after.needed}, {'more than' if after.needed > after.keeps else 'within'} the "
            f"{after.keeps} Ollama keeps loaded by default")
    shared = next((runner for runner in after.runners
                   if runner.reloads_between_adapters and name in runner.users), None)
    if shared is not None:
        sharing = ", ".join(user for user in shared.users if user != name)
        text += (f"; it shares {shared.model}'s runner with {sharing}, and Ollama reloads that "
                 "runner whenever they take turns")
    return text + (f" (start Ollama with {after.command})." if after.problems else ".")
