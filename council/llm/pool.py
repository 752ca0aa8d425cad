"""Several model servers of one kind as one `ChatBackend`: COUNCIL_WORKER_HOSTS and
COUNCIL_SYNTH_HOSTS (Ollama hosts, or OpenAI-compatible servers such as vLLM and llama.cpp's).

A request goes to the server that is up and has the fewest streams in flight (ties take turns),
holding one of that server's own request slots: a server that runs one request at a time gets
one while the others get theirs, and a server both roles list counts the requests of both.
A server whose connection fails before the answer's first token (refused, or dropped) is marked
down with the error, and the request moves to the next server; after the first token a broken
stream fails that one request, as it would with one server. A down server is asked again
(`health`) every `retry_s` seconds in the background and rejoins as soon as it answers. When
every server is down, requests go to them anyway, so each fails at once with the servers' own
errors rather than waiting for one to come back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from typing import Any, Protocol

from ..redact import redact_credentials
from .base import (POLL_S, BackendHealth, BackendUnreachable, ChatBackend, ChatChunk, ChatMessage,
                   ConnectionLost, ModelInfo, RequestSlots, never)


class SlottedBackend(ChatBackend, Protocol):
    """A backend for one server, with the request slots a pool takes one at a time."""

    slots: RequestSlots


class Server:
    """One server of a pool (the same object in both roles' pools when both list it): its
    backend, and whether it is down, since when and why."""

    def __init__(self, backend: SlottedBackend, retry_s: float) -> None:
        self.backend = backend
        self.retry_s = retry_s
        self.error: str | None = None
        self.down_since: float | None = None  # time.time() of the failure
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.prober: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self.backend.host

    @property
    def up(self) -> bool:
        return self.down_since is None

    @property
    def slots(self) -> RequestSlots:
        return self.backend.slots

    def mark_down(self, error: str) -> None:
        """Keep requests away from it until it answers again, and start asking it."""
        with self.lock:
            self.error = redact_credentials(error)
            self.down_since = self.down_since or time.time()
            if self.prober is None and not self.closed.is_set():
                self.prober = threading.Thread(target=self._probe_until_up, daemon=True,
                                               name=f"probe {self.host}")
                self.prober.start()

    def check(self) -> BackendHealth:
        """Ask it now (the Status page); what it says marks it up or down."""
        health = self.backend.health()
        if health.reachable:
            with self.lock:
                self.error = self.down_since = None
        else:
            self.mark_down(health.error or f"{self.host} is not reachable")
        return health

    def _probe_until_up(self) -> None:
        while not self.closed.wait(self.retry_s):
            health = self.backend.health()
            with self.lock:
                if health.reachable:
                    self.error = self.down_since = None
                elif self.down_since is not None:
                    self.error = health.error or self.error
                if self.down_since is None:
                    self.prober = None
                    return

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.backend.close()


class ServerPool:
    """The `ChatBackend` over `servers`, all of one kind, serving the same models."""

    applies_adapters = False

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.kind = servers[0].backend.kind
        self.host = ", ".join(server.host for server in servers)
        self.turn = 0  # where the next tie between equally busy servers starts
        self.freed = threading.Condition()

    @contextmanager
    def reserve(self, give_up: Callable[[], bool] = never) -> Iterator[Lease | None]:
        lease = Lease(self, give_up)
        try:
            yield lease if lease.move() else None
        finally:
            lease.release()

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        lease = Lease(self, never)
        try:
            yield from lease.stream_chat(model, messages, options)
        finally:
            lease.release()

    def take_slot(self, candidates: list[Server]) -> Server | None:
        """A slot on the best of `candidates` if one has a free slot now: the servers that are
        up (all of them when none is), the fewest streams in flight first, ties in turn."""
        usable = [server for server in candidates if server.up] or candidates
        with self.freed:
            count = len(self.servers)
            by_load = sorted(usable, key=lambda server: (
                server.slots.in_use, (self.servers.index(server) - self.turn) % count))
            for server in by_load:
                if server.slots.take():
                    self.turn = self.servers.index(server) + 1
                    return server
        return None

    def give_back(self, server: Server) -> None:
        server.slots.give_back()
        with self.freed:
            self.freed.notify_all()

    def wait_for_slot(self) -> None:
        """Until a request of this pool ends (or POLL_S, for the other role's on a shared
        server, and to ask the waiting request whether it still wants one)."""
        with self.freed:
            self.freed.wait(POLL_S)

    def count_tokens(self, model: str, messages: list[ChatMessage]) -> int:
        # the servers share one estimate of prompt sizes (`connect_backends`)
        return self.servers[0].backend.count_tokens(model, messages)

    def list_models(self) -> list[ModelInfo]:
        """The models every server that is up serves, since a request may go to any of them."""
        asked = [server for server in self.servers if server.up] or self.servers
        lists = [server.backend.list_models() for server in asked]
        everywhere = set.intersection(*({model.name for model in listed} for listed in lists))
        return [model for model in lists[0] if model.name in everywhere]

    def health(self) -> BackendHealth:
        """Every server asked at once (one slow to answer holds up no other), each marked up or
        down by what it says; reachable while any server is. One server: its own health."""
        with ThreadPoolExecutor(len(self.servers)) as asking:
            healths = list(asking.map(Server.check, self.servers))
        if len(healths) == 1:
            return healths[0]
        answering = [health for health in healths if health.reachable]
        if not answering:
            return BackendHealth(False, self.kind, self.host, error="; ".join(
                f"{health.host}: {health.error}" for health in healths))
        return BackendHealth(True, self.kind, self.host, version=answering[0].version, details={
            "any_model_name": all(h.details.get("any_model_name") for h in answering)})

    def close(self) -> None:
        for server in self.servers:
            server.close()


class Lease:
    """One request's slot on a server of the pool. It moves to another server when its server
    cannot be reached before the answer's first token; `failures` says which it tried."""

    def __init__(self, pool: ServerPool, give_up: Callable[[], bool]) -> None:
        self.pool, self.give_up = pool, give_up
        self.server: Server | None = None
        self.failures: list[tuple[Server, str]] = []

    def move(self) -> bool:
        """Take a slot on the best server not tried yet, waiting while all are busy; False if
        `give_up()` turned true first or every server has been tried."""
        self.release()
        while True:
            tried = {server for server, _ in self.failures}
            left = [server for server in self.pool.servers if server not in tried]
            if not left:
                return False
            self.server = self.pool.take_slot(left)
            if self.server is not None:
                return True
            if self.give_up():
                return False
            self.pool.wait_for_slot()

    def release(self) -> None:
        if self.server is not None:
            self.pool.give_back(self.server)
            self.server = None

    def stream_chat(self, model: str, messages: list[ChatMessage],
                    options: dict[str, Any] | None = None) -> Iterator[ChatChunk]:
        if self.server is None and not self.move():
            raise BackendUnreachable(f"No server of {self.pool.host} could take the request.")
        while self.server is not None:
            server, answered = self.server, False
            try:
                with closing(server.backend.stream_chat(model, messages, options)) as chunks:
                    for chunk in chunks:
                        answered = True
                        yield chunk
                return
            except (BackendUnreachable, ConnectionLost) as exc:
                if server.closed.is_set():  # the app is shutting down: nowhere to move to
                    raise
                server.mark_down(str(exc))
                if answered:
                    raise
                self.failures.append((server, str(exc)))
                if not self.move():
                    raise self._none_answered(exc) from None

    def _none_answered(self, last: Exception) -> Exception:
        if len(self.failures) == 1:
            return last
        return BackendUnreachable("No server answered: " + " ".join(
            f"{server.host}: {error}" for server, error in self.failures))
