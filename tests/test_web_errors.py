"""Every error under /api/ answers JSON with a message; pages answer the error page.

Why: the pages' scripts show the server's `error` as it is, so an HTML body (Flask's default
for a wrong method or a crash) would reach the user as "The server answered 405." with nothing
to act on; and a crash must not hand its exception text (paths, SQL) to whoever asked.
"""

from __future__ import annotations

import pytest
from flask import Flask

from council.web import status

SECRET = "OperationalError at /home/user/.council/council.db"


def test_a_wrong_method_on_the_api_answers_json_and_the_allowed_methods(app: Flask) -> None:
    response = app.test_client().put("/api/conversations")
    assert response.status_code == 405
    assert response.is_json and "method is not allowed" in response.get_json()["error"]
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_an_unknown_api_url_answers_json_and_an_unknown_page_the_error_page(app: Flask) -> None:
    client = app.test_client()
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.is_json and api.get_json()["error"]
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "<h1>404</h1>" in page.get_data(as_text=True)


def test_a_body_over_the_limit_answers_json(app: Flask) -> None:
    too_large = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = app.test_client().post("/api/conversations", data=too_large,
                                      content_type="application/json")
    assert response.status_code == 413 and response.is_json and response.get_json()["error"]


@pytest.fixture
def crashing_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash() -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(status, "backend_status", crash)


@pytest.mark.usefixtures("crashing_status")
def test_a_crash_in_an_api_route_answers_json_without_its_details(app: Flask) -> None:
    response = app.test_client().get("/api/status")
    assert response.status_code == 500 and response.is_json
    message = response.get_json()["error"]
    assert "log" in message and SECRET not in response.get_data(as_text=True)


@pytest.mark.usefixtures("crashing_status")
def test_a_crash_in_a_page_answers_the_error_page_without_its_details(app: Flask) -> None:
    response = app.test_client().get("/status")
    assert response.status_code == 500 and response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>500</h1>" in body and SECRET not in body
