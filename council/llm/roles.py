"""Which backend answers each role of a round: the workers (and their peer reviews) and the
synthesizer. One backend serves both unless COUNCIL_WORKER_HOSTS and COUNCIL_SYNTH_HOSTS list
different servers; `connect_backends` builds them."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ChatBackend
from .pool import Server, ServerPool

ROLES = ("workers", "synthesizer")


@dataclass(frozen=True)
class Backends:
    """The workers' backend and the synthesizer's (often the same object)."""

    workers: ChatBackend
    synthesizer: ChatBackend

    def distinct(self) -> list[ChatBackend]:
        return [self.workers] if self.synthesizer is self.workers else [self.workers,
                                                                          self.synthesizer]

    def servers(self) -> list[tuple[Server, list[str]]]:
        """Every server of a pool once, with the roles it serves (the embedded engine has
        none): what the Status page lists."""
        roles: dict[Server, list[str]] = {}
        for role in ROLES:
            backend = getattr(self, role)
            if isinstance(backend, ServerPool):
                for server in backend.servers:
                    roles.setdefault(server, []).append(role)
        return list(roles.items())

    def close(self) -> None:
        for backend in self.distinct():
            backend.close()
