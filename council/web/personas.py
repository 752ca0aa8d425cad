"""The persona manager: list, create, edit, delete, export and import personas."""

from __future__ import annotations

import json
from typing import Any

import yaml
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from ..db import session_scope
from ..extensions import get_backends, get_settings
from ..llm.served import ServedModels
from ..models import Persona
from ..personas import (
    PersonaError,
    create_persona,
    default_color,
    export_personas,
    import_personas,
    list_personas,
    update_persona,
)
from .inputs import InputRefused, loads_checked

bp = Blueprint("personas", __name__, url_prefix="/personas")


OTHER_MODEL = "other"  # the model menu's "type a name or path" entry


def _form_data() -> dict[str, Any]:
    """The form's fields; a typed model name or path wins over the model menu."""
    data: dict[str, Any] = {key: request.form.get(key) for key in
                            ("name", "description", "system_prompt", "temperature",
                             "top_p", "sampling", "color", "example_messages",
                             "routing_rules")}
    typed = (request.form.get("model") or "").strip()
    chosen = request.form.get("model_choice", "")
    data["model"] = typed or ("" if chosen == OTHER_MODEL else chosen)
    data["enabled"] = request.form.get("enabled") == "on"
    return data


def _model_menu(model: str, served: ServedModels) -> tuple[str, str]:
    """What the model menu selects and the text box holds for a persona's `model`."""
    if not model:
        return "", ""
    if served.listed and any(m.name == model for m in served.models):
        return model, ""
    return OTHER_MODEL, model


def _as_text(value: Any, lines: bool) -> str:
    """A stored list/mapping as the textarea shows it; text the user typed stays as typed."""
    if isinstance(value, str) or value is None:
        return value or ""
    if lines:
        return "\n".join(value)
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=None) if value else ""


def _render_form(persona: Any, errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = get_settings()
    get = persona.get if isinstance(persona, dict) else lambda key: getattr(persona, key, None)
    served = ServedModels.of(get_backends().workers)
    chosen, typed = _model_menu(get("model") or "", served)
    with session_scope() as session:
        suggested_color = default_color(session)
    return render_template("personas/form.html", persona=persona, errors=errors,
                           default_model=settings.worker_model, served=served,
                           model_chosen=chosen, model_typed=typed, other_model=OTHER_MODEL,
                           color=get("color") or suggested_color,
                           suggested_color=suggested_color,
                           examples_text=_as_text(get("example_messages"), lines=True),
                           rules_text=_as_text(get("routing_rules"), lines=False)), status


@bp.get("/")
def index() -> str:
    default_model = get_settings().worker_model
    served = ServedModels.of(get_backends().workers)
    with session_scope() as session:
        personas = list_personas(session)
        missing = {p.id: served.fix(p.model or default_model) for p in personas
                   if served.listed and not served.has(p.model or default_model)}
        return render_template("personas/index.html", personas=personas, served=served,
                               missing=missing, default_model=default_model)


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    if request.method == "GET":
        return _render_form({"enabled": True, "temperature": 0.7, "top_p": 0.9}, {})
    data = _form_data()
    if data["color"] == request.form.get("suggested_color"):
        data["color"] = None  # the suggestion kept: the colour still free now, at saving
    try:
        with session_scope() as session:
            persona = create_persona(session, data)
            name = persona.name
    except PersonaError as exc:
        return _render_form(data, exc.errors, 400)
    flash(f"Created {name}.")
    return redirect(url_for("personas.index"))


@bp.route("/<int:persona_id>/edit", methods=["GET", "POST"])
def edit(persona_id: int) -> Any:
    with session_scope() as session:
        persona = session.get(Persona, persona_id)
        if persona is None:
            abort(404, "No such persona; it may have been deleted.")
        if request.method == "GET":
            return _render_form(persona, {})
        data = _form_data()
        try:
            update_persona(session, persona, data)
        except PersonaError as exc:
            session.rollback()
            return _render_form({**data, "id": persona_id}, exc.errors, 400)
        flash(f"Saved {persona.name}.")
    return redirect(url_for("personas.index"))


@bp.post("/<int:persona_id>/delete")
def delete(persona_id: int) -> Any:
    with session_scope() as session:
        persona = session.get(Persona, persona_id)
        if persona is None:
            abort(404, "No such persona; it may have been deleted already.")
        name = persona.name
        session.delete(persona)
    flash(f"Deleted {name}. Its past answers stay in your conversations.")
    return redirect(url_for("personas.index"))


@bp.get("/export.json")
def export() -> Response:
    with session_scope() as session:
        body = json.dumps(export_personas(session), indent=2, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": "attachment; filename=ai-council-personas.json"})


@bp.post("/import")
def import_file() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a persona export (.json) to import.", "error")
        return redirect(url_for("personas.index"))
    try:
        payload = loads_checked(upload.read())
    except InputRefused as exc:
        flash(f"{upload.filename} was refused: {exc}; nothing was imported.", "error")
        return redirect(url_for("personas.index"))
    try:
        with session_scope() as session:
            summary = import_personas(session, payload, request.form.get("on_conflict", "skip"))
    except PersonaError as exc:
        flash("Nothing was imported: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()),
              "error")
        return redirect(url_for("personas.index"))
    flash(f"Imported: {len(summary.created)} new, {len(summary.updated)} updated, "
          f"{len(summary.skipped)} skipped (already here).")
    return redirect(url_for("personas.index"))


@bp.get("/api")
def api_list() -> Any:
    with session_scope() as session:
        return jsonify(export_personas(session)["personas"])
