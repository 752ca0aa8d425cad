"""The way of working a cluster shows (its mode), which becomes the role in its name.

A persona is a recognisable way of working ("it's not working…" → Debugger, "how should I
structure…" → Architect, "what if…" → Explorer), so each message is checked for the cues of
every mode: words and phrases (English, Dutch, German and French; the table is `roles.yaml`)
and the shared traits (`council.features.traits`: question types, reasoning markers, tone,
topic). `naming` names a cluster for the modes enough of its messages show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..features.traits import MessageTraits

CUE_CHARS = 2000  # a message's opening says how the user asks; a paste after it does not
MIN_MODE_SHARE = 0.2
ROLES_FILE = Path(__file__).with_name("roles.yaml")


@dataclass(frozen=True)
class Mode:
    key: str
    role: str               # the role noun in a name: "The Debugger (…)"
    habit: str              # a traits line: what the user does in this mode
    guidance: str           # the template prompt: how a persona in this mode answers
    cues: re.Pattern[str]   # words and phrases that show this mode in a message
    topic_roles: dict[str, str] = field(default_factory=dict)

    def role_for(self, topic: str) -> str:
        """A sharper role where the cluster's dominant topic has one (Systems Architect)."""
        return self.topic_roles.get(topic, self.role)


def _mode(entry: dict[str, Any]) -> Mode:
    fragments = entry["cues"] or [r"(?!)"]  # no cues: a mode no message shows
    cues = re.compile(r"(?<!\w)(?:" + "|".join(fragments) + r")(?!\w)", re.IGNORECASE)
    return Mode(entry["key"], entry["role"], entry["habit"], entry["guidance"], cues,
                dict(entry.get("topic_roles", {})))


_ALL = tuple(_mode(entry) for entry in yaml.safe_load(ROLES_FILE.read_text("utf-8")))
MODES, GENERAL = _ALL[:-1], _ALL[-1]  # the file's last entry is the general mode
MODE_BY_KEY = {mode.key: mode for mode in _ALL}
TRAIT_CUES = {  # traits that show a mode by themselves
    "debugging": lambda t: t.has_code and "why" in t.question_types,
    "architecture": lambda t: "trade_off" in t.reasoning_markers,
    "exploring": lambda t: "what_if" in t.question_types or t.tone == "exploratory",
    "deciding": lambda t: "should_i" in t.question_types or "compare" in t.question_types,
    "learning": lambda t: t.topic == "learning",
    "writing": lambda t: t.topic == "writing",
    "creating": lambda t: t.topic == "creative",
    "analysing": lambda t: t.topic == "data_ml",
    "building": lambda t: t.topic == "programming" and "request" in t.question_types,
}


def message_modes(text: str, traits: MessageTraits) -> list[str]:
    """Every mode one message shows, by its words (the opening CUE_CHARS) or its traits."""
    opening = text[:CUE_CHARS]
    return [mode.key for mode in MODES
            if mode.cues.search(opening) or TRAIT_CUES.get(mode.key, lambda t: False)(traits)]


def mode_shares(per_message: list[list[str]]) -> list[tuple[str, float]]:
    """Each mode's share of the messages that show it, largest first (MODES order on ties)."""
    total = max(len(per_message), 1)
    order = {mode.key: i for i, mode in enumerate(MODES)}
    counts = {mode.key: sum(mode.key in modes for modes in per_message) for mode in MODES}
    return sorted(((key, n / total) for key, n in counts.items() if n),
                  key=lambda kv: (-kv[1], order[kv[0]]))
