"""Every JSON route and every Socket.IO event, fed every family of tests/hostile.py.

The routes come from the app's URL map and the events from the handlers Socket.IO knows, so a
new one is covered without touching this file. What must hold for each input: a 4xx answer
whose body is JSON with a message (never a 5xx, never an HTML page), an event acknowledgement
that says why, a connection that stays open, and no row written by anything refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter, Rule

from council.db import session_scope
from council.extensions import socketio
from council.models import Conversation, Round
from council.web.inputs import MAX_INT
from tests.hostile import BODIES, FIELDS, LEGAL_BODIES, WRONG_VALUES
from tests.sockets import CouncilClient

NO_SUCH_ID, NO_SUCH_NAME = 999_999_999, "no-such-persona"
QUERY_VALUES = ["-1", "abc", "9" * 30, "%ED%A0%80", "%00", "x" * 10_000, "1e999", "²"]


def _api_rules(app: Flask) -> list[tuple[Rule, str]]:
    return [(rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _has_id(rule: Rule) -> bool:
    return any(isinstance(c, IntegerConverter) for c in rule._converters.values())


def _url(rule: Rule, id_value: int = NO_SUCH_ID) -> str:
    """The rule's URL with an id where it takes one and an unknown name elsewhere."""
    args = {name: id_value if isinstance(conv, IntegerConverter) else NO_SUCH_NAME
            for name, conv in rule._converters.items()}
    return rule.build(args)[1]  # type: ignore[index]


def _sent_events() -> list[str]:
    """Socket.IO events a browser may send (connect and disconnect are the client's own)."""
    return sorted(set(socketio.server.handlers["/"]) - {"connect", "disconnect"})


def _problem(response: Any) -> str | None:
    """Why an answer breaks the rule (None when it keeps it)."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.get_data(as_text=True)[:120]}"
    if response.status_code >= 400:
        body = response.get_json(silent=True) if response.is_json else None
        if not isinstance(body, dict) or not isinstance(body.get("error"), str) \
                or not body["error"]:
            return f"{response.status_code} without a JSON message: {response.data[:120]!r}"
    return None


def test_every_json_route_refuses_every_hostile_body_with_a_json_4xx(app: Flask) -> None:
    client = app.test_client()
    failures = []
    rules = [(rule, method) for rule, method in _api_rules(app) if method != "GET"]
    assert {"council.vote", "council.create_conversation", "discover.import_chosen",
            "training.launch"} <= {rule.endpoint for rule, _ in rules}
    for rule, method in rules:
        url = _url(rule)
        for name, body in BODIES:
            response = client.open(url, method=method, data=body,
                                   content_type="application/json")
            problem = _problem(response)
            if problem or (response.status_code < 400 and name not in LEGAL_BODIES):
                failures.append(f"{method} {url} with {name}: {problem or response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_json_field_refuses_values_of_the_wrong_kind(app: Flask) -> None:
    """One field at a time, so the first check a route makes cannot hide a later one."""
    client = app.test_client()
    failures = []
    for rule, method in _api_rules(app):
        if method == "GET":
            continue
        url = _url(rule)
        for field in FIELDS:
            for name, value in WRONG_VALUES:
                body = json.dumps({field: value})
                response = client.open(url, method=method, data=body,
                                       content_type="application/json")
                problem = _problem(response)
                if problem:
                    failures.append(f"{method} {url} with {field}={name}: {problem}")
    assert not failures, "\n".join(failures[:40])
    with session_scope(app) as session:  # a title of plain text is the one thing accepted
        titles = set(session.scalars(select(Conversation.title)))
    assert titles <= {"x", "New conversation"}, titles


def test_every_query_string_and_id_out_of_range_gets_a_json_4xx(app: Flask) -> None:
    client = app.test_client()
    failures = []
    for rule, method in _api_rules(app):
        for too_big in (MAX_INT + 1, 2**70) if _has_id(rule) else ():
            url = _url(rule, too_big)
            response = client.open(url, method=method)
            if _problem(response) or response.status_code < 400:
                failures.append(f"{method} {url}: {response.status_code}")
        if method != "GET":
            continue
        url = _url(rule)
        for key in ("q", "limit", "offset", "votes"):
            for value in QUERY_VALUES:
                response = client.get(f"{url}?{key}={value}")
                problem = _problem(response)
                if problem:
                    failures.append(f"GET {url}?{key}={value[:20]}: {problem}")
    assert not failures, "\n".join(failures[:40])


def _payloads(event: str) -> list[tuple[str, Any]]:
    shapes: list[tuple[str, Any]] = [("a list", [1]), ("a string", "ask"), ("a number", 3),
                                     ("null", None)]
    for field in FIELDS:
        for name, value in WRONG_VALUES:
            if (event, field, name) != ("ask", "text", "text"):  # the one valid question
                shapes.append((f"{field}={name}", {field: value}))
    return shapes


def test_every_socket_event_refuses_every_hostile_payload_and_stays_connected(
        app: Flask, sio: CouncilClient) -> None:
    events = _sent_events()
    assert {"ask", "open_conversation", "stop_round"} <= set(events)
    failures = []
    for event in events:
        for name, payload in _payloads(event):
            ack = sio.call(event, payload)
            if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool) or (
                    not ack["ok"] and not ack.get("error")):
                failures.append(f"{event} with {name}: {ack!r}"[:200])
            if event == "ask" and ack.get("ok"):
                failures.append(f"ask with {name} started a round")
    assert not failures, "\n".join(failures[:40])
    assert sio.client.connected
    with session_scope(app) as session:  # nothing refused left a conversation behind
        assert session.scalar(select(func.count(Conversation.id))) == 0
        assert session.scalar(select(func.count(Round.id))) == 0


@pytest.mark.parametrize("size", [1_000_000, 3_500_000])
def test_a_question_of_megabytes_is_refused_with_the_limit_and_the_socket_stays(
        app: Flask, sio: CouncilClient, size: int) -> None:
    ack = sio.call("ask", {"conversation_id": None, "text": "x" * size})
    assert not ack["ok"] and "the limit is 20,000" in ack["error"]
    assert sio.client.connected
    assert sio.ask("And a short one?").one("round_done")["status"] == "done"
