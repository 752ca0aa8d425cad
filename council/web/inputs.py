"""What a request may carry, checked once at the edge so no handler sees a value it cannot store.

JSON bodies, Socket.IO payloads and uploaded persona files all go through `check_json_value`:
finite numbers that fit a 64-bit column, text that is valid Unicode without NUL (SQLite and
PostgreSQL both refuse to store a lone surrogate; PostgreSQL refuses NUL), and at most
`MAX_JSON_DEPTH` levels of nesting. Ids in URLs are bounded the same way, so an id beyond 64
bits is a 404 like any other missing row, not an overflow in the database driver.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import abort, request
from werkzeug.routing import IntegerConverter

MAX_JSON_DEPTH = 32  # the deepest body the app expects is 4 levels
MAX_INT = 2**63 - 1  # BIGINT, SQLite's INTEGER


class InputRefused(ValueError):
    """A value the app will not take; the message says which and what to send instead."""


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in a route: ids beyond what an id column holds do not match (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **{"max": MAX_INT, **kwargs})


def _number(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_INT)) or abs(int(text)) > MAX_INT:
        raise InputRefused(f"the number {text[:24]}{'…' if len(text) > 24 else ''} is too large "
                           "(numbers must fit in 64 bits)")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputRefused(f"the number {text[:24]} is too large to be a finite number")
    return value


def _constant(name: str) -> Any:
    raise InputRefused(f"{name} is not a number JSON allows; send a finite number")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise InputRefused("text may not contain NUL characters (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputRefused(f"text contains an unpaired surrogate ({text[exc.start]!a}); "
                           "send valid Unicode") from None


def check_json_value(value: Any) -> None:
    """Refuse what no column can hold; walks iteratively, so depth itself costs no stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                raise InputRefused("a number is too large (numbers must fit in 64 bits)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputRefused("numbers must be finite")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InputRefused(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
            values = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in values)
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)


def loads_checked(data: bytes | str) -> Any:
    """`json.loads` that refuses non-finite and oversized numbers, bad text and deep nesting."""
    try:
        value = json.loads(data, parse_int=_number, parse_float=_finite,
                           parse_constant=_constant)
    except RecursionError:
        raise InputRefused(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except InputRefused:
        raise
    except UnicodeDecodeError:
        raise InputRefused("it is not UTF-8") from None
    except ValueError as exc:
        raise InputRefused(f"it is not valid JSON ({exc})") from None
    check_json_value(value)
    return value


def json_body() -> dict[str, Any]:
    """The request's JSON object, {} when it sent none; anything else is a 400 that says why."""
    if not request.is_json or not request.get_data(cache=True).strip():
        return {}
    try:
        value = loads_checked(request.get_data(cache=True))
    except InputRefused as exc:
        abort(400, f"The request body was refused: {exc}.")
    if not isinstance(value, dict):
        abort(400, f"Send a JSON object ({{...}}), not {_kind(value)}.")
    return value


def text_field(payload: dict[str, Any], key: str, default: str = "") -> str:
    """A string field of a body; a number, list or object there is a 400, never coerced."""
    value = payload.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        abort(400, f"{key} must be text, not {_kind(value)}.")
    return value


def _kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")
