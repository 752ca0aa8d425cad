"""The app on a real loopback socket and a Socket.IO client for it, as a browser tab uses it.

conftest.py builds its `connect` / `sio` fixtures on these; tests that start their own server
(a process of their own, another origin) use them directly.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import engineio
import socketio as socketio_client
from flask import Flask
from werkzeug.serving import make_server


class LiveServer:
    """The app on a real loopback socket (werkzeug, threaded), as `run.py` serves it."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class InOrderEngineIOClient(engineio.Client):
    """python-engineio's client hands every incoming message to a thread of its own, so a
    round's events can overtake one another on the way to the test; a browser gets them in the
    order they were sent, and so do the tests (the handler only queues them)."""

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        return super()._trigger_event(event, *args, **{**kwargs, "run_async": False})


class InOrderClient(socketio_client.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:
        return InOrderEngineIOClient


class CouncilClient:
    """A python-socketio client over a real websocket; every event lands in a thread-safe queue."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = InOrderClient(reconnection=False)
        self.client.on("*", lambda event, data: self.events.put((event, data)))
        self.client.connect(url, transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data: Any) -> dict[str, Any]:
        return self.client.call(event, data, timeout=30)

    def collect_until(self, done: str, round_id: int | None,
                      timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
        """Events until `done` arrives for this round; fails after `timeout` seconds."""
        collected: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                event, data = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no {done} within {timeout}s; got "
                                     f"{[e for e, _ in collected]}") from None
            collected.append((event, data))
            if event == done and data.get("round_id") == round_id:
                return collected

    def ask(self, text: str, conversation_id: int | None = None,
            timeout: float = 30.0) -> RoundResult:
        ack = self.call("ask", {"conversation_id": conversation_id, "text": text})
        assert ack["ok"], ack
        return RoundResult(ack, self.collect_until("round_done", ack["round_id"], timeout))

    def close(self) -> None:
        # websocket-client waits up to 3 s for the server's close frame; don't.
        self.client.eio.ws.close(timeout=0.05)
        self.client.disconnect()


class RoundResult:
    """Every event of one round, in order, with a few lookups tests need."""

    def __init__(self, ack: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        self.ack, self.events = ack, events
        self.round_id = ack.get("round_id")

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.named(name)
        assert len(found) == 1, f"expected one {name}, got {len(found)}"
        return found[0]

    def done_by_answer(self) -> dict[int, dict[str, Any]]:
        return {d["answer_id"]: d for d in self.named("worker_done")}
