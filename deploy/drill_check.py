"""The drill's proof that the topology works: `deploy/drill.sh --check` runs it against nginx.

    PYTHONPATH=. .venv/bin/python deploy/drill_check.py http://127.0.0.1:5000

(from the checkout: the tabs are the test suite's Socket.IO clients, tests/sockets.py).

The page must load through nginx and tell the browser to use WebSocket only (what lets nginx
go without sticky sessions). Then two Socket.IO connections through nginx, which its
`least_conn` puts on different app processes: the first asks a question, the second opens that
conversation, and the first asks a follow-up; both tabs must see the follow-up's whole round
(tokens, synthesis, `round_done` with status done), the second only through Redis whenever it
sits on the other process. Exits 0 when all of that held, 1 with the reason otherwise.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from typing import Any

import socketio

from tests.sockets import CouncilClient

ROUND_TIMEOUT_S = 600.0  # a round of SmolLM2 on one CPU thread per server, answers one by one


class CheckFailed(Exception):
    pass


def asked(tab: CouncilClient, conversation_id: int | None, text: str) -> dict[str, Any]:
    ack = tab.call("ask", {"conversation_id": conversation_id, "text": text})
    if not ack.get("ok"):
        raise CheckFailed(f"the question was refused: {ack.get('error')}")
    return ack


def round_events(tab: CouncilClient, round_id: int) -> list[str]:
    """The names of this round's events, up to its `round_done` (which must say done)."""
    events = [(event, data) for event, data in tab.collect_until("round_done", round_id,
                                                                 ROUND_TIMEOUT_S)
              if data.get("round_id") == round_id]
    outcome = events[-1][1]
    if outcome.get("status") != "done":
        raise CheckFailed(f"round {round_id} ended {outcome.get('status')}: "
                          f"{outcome.get('error')}")
    return [event for event, _ in events]


def check_page(url: str) -> None:
    with urllib.request.urlopen(f"{url}/", timeout=30) as response:
        page = response.read().decode()
    if 'data-socket-transports="websocket"' not in page:
        raise CheckFailed("the page does not ask for WebSocket only: is COUNCIL_REDIS_URL set?")
    print(f"page through nginx: {response.status}, WebSocket-only transport")


def check_round(url: str) -> None:
    asker, watcher = CouncilClient(url), CouncilClient(url)
    try:
        started = time.monotonic()
        first = asked(asker, None, "Name one good habit for writing tests.")
        round_events(asker, first["round_id"])
        print(f"first round {first['round_id']}: done in {time.monotonic() - started:.0f} s")
        opened = watcher.call("open_conversation", {"conversation_id": first["conversation_id"]})
        if not opened.get("ok"):
            raise CheckFailed(f"the second tab could not open it: {opened.get('error')}")
        started = time.monotonic()
        follow_up = asked(asker, first["conversation_id"], "And one bad habit?")
        for name, tab in (("asking tab", asker), ("watching tab", watcher)):
            seen = round_events(tab, follow_up["round_id"])
            missing = {"round_started", "worker_token", "worker_done", "synth_done"} - set(seen)
            if missing:
                raise CheckFailed(f"the {name} missed {sorted(missing)} of round "
                                  f"{follow_up['round_id']}")
            print(f"follow-up round {follow_up['round_id']}, {name}: "
                  f"{seen.count('worker_token')} worker tokens, "
                  f"{seen.count('synth_token')} synthesis tokens, done")
        print(f"follow-up round done in {time.monotonic() - started:.0f} s")
    finally:
        asker.close()
        watcher.close()


def main(url: str) -> int:
    try:
        check_page(url)
        check_round(url)
    except (CheckFailed, AssertionError, OSError, socketio.exceptions.SocketIOError) as exc:
        print(f"drill check failed: {exc}", file=sys.stderr)
        return 1
    print("drill check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"))
