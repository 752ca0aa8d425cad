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
from ..extensions import get_settings
from ..models import Persona
from ..personas import (
    PALETTE,
    PersonaError,
    create_persona,
    export_personas,
    import_personas,
    list_personas,
    update_persona,
)

bp = Blueprint("personas", __name__, url_prefix="/personas")


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {key: request.form.get(key) for key in
                            ("name", "description", "system_prompt", "model", "temperature",
                             "top_p", "color", "example_messages", "routing_rules")}
    data["enabled"] = request.form.get("enabled") == "on"
    return data


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
    return render_template("personas/form.html", persona=persona, errors=errors,
                           default_model=settings.worker_model, palette=PALETTE,
                           examples_text=_as_text(get("example_messages"), lines=True),
                           rules_text=_as_text(get("routing_rules"), lines=False)), status


@bp.get("/")
def index() -> str:
    with session_scope() as session:
        return render_template("personas/index.html", personas=list_personas(session),
                               default_model=get_settings().worker_model)


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    if request.method == "GET":
        return _render_form({"enabled": True, "temperature": 0.7, "top_p": 0.9}, {})
    data = _form_data()
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
        payload = json.loads(upload.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        flash(f"{upload.filename} is not valid JSON ({exc}); nothing was imported.", "error")
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
