"""Attacks a local app faces from the web pages its user visits, each sent and refused."""

from __future__ import annotations

import pytest
import socketio as socketio_client
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import Conversation, Persona
from tests.jobs import upload
from tests.sockets import CouncilClient, LiveServer

EVIL = "http://evil.example"


def unsafe_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (method, url) that can change state, with placeholder arguments filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            values = {arg: 1 if isinstance(rule._converters[arg], IntegerConverter)
                      else "x" for arg in rule.arguments}
            routes.append((method, rule.build(values, append_unknown=False)[1]))
    return routes


def test_there_are_state_changing_routes_to_protect(app: Flask) -> None:
    urls = {url for _, url in unsafe_routes(app)}
    assert {"/personas/new", "/api/discover/upload", "/api/discover/run",
            "/api/rounds/1/votes", "/api/training/x/x", "/router/reset"} <= urls


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:8080"},
    {"Referer": f"{EVIL}/attack.html"},
    {"Origin": "null"},
], ids=["origin", "fetch-site", "other-local-port", "referer", "null-origin"])
def test_every_state_change_from_another_site_is_refused(app: Flask, headers: dict) -> None:
    client = app.test_client()
    for method, url in unsafe_routes(app):
        response = client.open(url, method=method, headers=headers,
                               data={"name": "Injected", "system_prompt": "pwned"})
        assert response.status_code == 403, (method, url, response.status_code)
        assert "cross-site" in response.get_data(as_text=True)
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Persona.id))
                              .where(Persona.name == "Injected")) == 0


def test_the_apps_own_pages_may_change_state(app: Flask) -> None:
    client = app.test_client()
    for headers in ({"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin",
                                                     "Origin": "http://localhost"},
                    {"Referer": "http://localhost/personas"}, {}):
        response = client.post("/router/reset", headers=headers)
        assert response.status_code == 302, (headers, response.status_code)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "127.0.0.1.evil.example",
                                  "192.168.1.20:5000"])
def test_dns_rebinding_host_names_are_refused(app: Flask, host: str) -> None:
    response = app.test_client().get("/", headers={"Host": host})
    assert response.status_code == 421
    assert "COUNCIL_ALLOWED_HOSTS" in response.get_data(as_text=True)
    api = app.test_client().get("/api/leaderboard", headers={"Host": host})
    assert api.status_code == 421 and "answers only to" in api.get_json()["error"]


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000"])
def test_local_host_names_are_served(app: Flask, host: str) -> None:
    assert app.test_client().get("/", headers={"Host": host}).status_code == 200


def test_extra_host_names_can_be_allowed(make_app, settings) -> None:
    app = make_app(settings.with_changes(allowed_hosts="council.lan, other.lan"))
    client = app.test_client()
    assert client.get("/", headers={"Host": "council.lan:5000"}).status_code == 200
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421


def test_socketio_from_another_origin_is_refused(app: Flask) -> None:
    server = LiveServer(app)
    try:
        foreign = socketio_client.Client(reconnection=False)
        with pytest.raises(socketio_client.exceptions.ConnectionError):
            foreign.connect(server.url, transports=["websocket"], wait_timeout=5,
                            headers={"Origin": EVIL})
        foreign.disconnect()
        rebound = socketio_client.Client(reconnection=False)
        with pytest.raises(socketio_client.exceptions.ConnectionError):
            rebound.connect(server.url.replace("127.0.0.1", "localhost"), transports=["polling"],
                            wait_timeout=5, headers={"Host": "evil.example"})
        rebound.disconnect()
        own = CouncilClient(server.url)
        assert own.client.connected
        own.client.disconnect()
    finally:
        server.close()


def test_rounds_per_client_are_bounded(make_app, settings, connect,
                                       demo_server: DemoServer) -> None:
    app = make_app(settings.with_changes(max_rounds_per_client=2))
    demo_server.token_delay = 0.2
    client = connect(app)
    first = client.call("ask", {"conversation_id": None, "text": "First question?"})
    second = client.call("ask", {"conversation_id": None, "text": "Second question?"})
    assert first["ok"] and second["ok"]
    third = client.call("ask", {"conversation_id": None, "text": "Third question?"})
    assert not third["ok"] and "2 rounds running" in third["error"]
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Conversation.id))) == 2, "refused: no row"
    other = connect(app).call("ask", {"conversation_id": None, "text": "Another tab?"})
    assert other["ok"], "the bound is per client, not global"
    assert client.call("stop_round", {"round_id": first["round_id"]})["ok"]
    client.collect_until("round_done", first["round_id"])
    again = client.call("ask", {"conversation_id": None, "text": "Third question?"})
    assert again["ok"]
    for round_id in (second["round_id"], again["round_id"]):
        client.call("stop_round", {"round_id": round_id})
    demo_server.token_delay = 0.0


def test_rounds_over_all_tabs_are_bounded(make_app, settings, connect,
                                          demo_server: DemoServer) -> None:
    app = make_app(settings.with_changes(max_rounds=2))
    demo_server.token_delay = 0.2
    tabs = [connect(app) for _ in range(3)]
    acks = [tab.call("ask", {"conversation_id": None, "text": f"Question {i}?"})
            for i, tab in enumerate(tabs)]
    assert acks[0]["ok"] and acks[1]["ok"]
    assert not acks[2]["ok"] and "COUNCIL_MAX_ROUNDS" in acks[2]["error"]
    with session_scope(app) as session:  # the refused question left no conversation behind
        assert session.scalar(select(func.count(Conversation.id))) == 2
    assert tabs[0].call("stop_round", {"round_id": acks[0]["round_id"]})["ok"]
    tabs[0].collect_until("round_done", acks[0]["round_id"])
    again = tabs[2].call("ask", {"conversation_id": None, "text": "Question 2?"})
    assert again["ok"], "a place frees when a round ends"
    for tab, ack in ((tabs[1], acks[1]), (tabs[2], again)):
        tab.call("stop_round", {"round_id": ack["round_id"]})
    demo_server.token_delay = 0.0


def test_only_the_asking_tab_or_one_showing_the_conversation_stops_a_round(
        app, connect, demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.1
    asker, stranger = connect(app), connect(app)
    ack = asker.call("ask", {"conversation_id": None, "text": "A long answer, please."})
    refused = stranger.call("stop_round", {"round_id": ack["round_id"]})
    assert not refused["ok"] and "Only the tab that asked" in refused["error"]
    stranger.call("open_conversation", {"conversation_id": ack["conversation_id"]})
    assert stranger.call("stop_round", {"round_id": ack["round_id"]})["ok"]
    done = asker.collect_until("round_done", ack["round_id"])[-1][1]
    assert done["status"] == "stopped"
    demo_server.token_delay = 0.0


def test_messages_over_the_limit_are_refused(sio) -> None:
    ack = sio.call("ask", {"conversation_id": None, "text": "x" * 20_001})
    assert not ack["ok"] and "the limit is 20,000" in ack["error"]


# --- paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,stored", [
    ("../../../etc/passwd.json", "etc_passwd.json"),
    ("/root/.bashrc", "root.bashrc"),
    ("..\\..\\windows\\win.ini", "windowswin.ini"),
    ("export\x00.json", "export.json"),
    ("a" * 5000 + ".json", "a" * 115 + ".json"),  # 120 characters
    ("my export (1).zip", "my_export_1.zip"),
    (".hidden.json", "hidden.json"),
])
def test_upload_names_cannot_escape_the_imports_folder(app: Flask, settings, tmp_path,
                                                       raw: str, stored: str) -> None:
    response = upload(app.test_client(), b'[{"conversations": []}]', raw)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["upload"] == stored
    imports = settings.data_dir / "personas" / "raw_imports"
    assert [p.name for p in imports.iterdir()] == [stored]
    assert not list(settings.data_dir.parent.glob("*.json")) and not (tmp_path / "etc").exists()


@pytest.mark.parametrize("raw", ["..", "/", "\x00", "...", "../"])
def test_upload_names_with_nothing_usable_are_refused(app: Flask, raw: str) -> None:
    response = upload(app.test_client(), b"[]", raw)
    assert response.status_code == 400 and "needs a name" in response.get_json()["error"]


@pytest.mark.parametrize("name", ["../council.db", "/etc/passwd", "a/../../b.json", ""])
def test_discovery_runs_only_on_uploaded_names(app: Flask, name: str) -> None:
    response = app.test_client().post("/api/discover/run", json={"upload": name})
    assert response.status_code == 400


@pytest.mark.parametrize("slug", ["..", "..%2F..%2Fetc", "%00", "a" * 300])
def test_training_slugs_cannot_name_paths(app: Flask, slug: str) -> None:
    client = app.test_client()
    response = client.post(f"/api/training/{slug}/train", json={})
    assert response.status_code == 404
    assert response.status_code == client.post(f"/api/training/{slug}/variant",
                                                json={"variant": "prompt"}).status_code


def test_persona_slugs_are_plain_words() -> None:
    from council.slugs import slugify

    for hostile in ("../../etc", "/abs/path", "a\x00b", "..\\win", "x" * 500):
        slug = slugify(hostile)
        assert slug and len(slug) <= 64
        assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_jobs_pass_arguments_as_lists_never_through_a_shell(settings) -> None:
    from pathlib import Path

    from council.jobs import job_command

    command = job_command(settings, "discover", {"input": "/tmp/x; rm -rf ~ $(whoami).json"})
    assert isinstance(command, list) and "/tmp/x; rm -rf ~ $(whoami).json" in command
    sources = Path(__file__).resolve().parent.parent / "council"
    for source in sources.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "shell=True" not in text and "os.system(" not in text, source


def test_pages_forbid_inline_script_and_framing(app: Flask) -> None:
    response = app.test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    api = app.test_client().get("/api/leaderboard")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_carry_no_inline_script_or_style() -> None:
    """The policy would block them: behaviour lives in static/js, colours in data-color."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parent.parent / "templates"
    inline = re.compile(r"<script>|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|\sstyle=|<style")
    for template in templates.rglob("*.html"):
        found = inline.search(template.read_text(encoding="utf-8"))
        assert found is None, f"{template.name}: {found.group(0) if found else ''}"
