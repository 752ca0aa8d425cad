"""Repetition control: the options that keep a model from repeating itself, per backend.

The settings (`COUNCIL_WORKER_SAMPLING`, `COUNCIL_SYNTH_SAMPLING`) and a persona's own
`sampling` say `name=value` pairs in Ollama's option names; each backend takes what it can:

- the embedded engine (llama.cpp's samplers) applies every one, and where nothing is set uses
  `EMBEDDED_DEFAULTS`: a repetition penalty of 1.1 over the last 64 tokens (llama.cpp's
  `penalties` sampler, as Ollama applied it by default up to v0.32.9) and DRY at the strength
  its author suggests (multiplier 0.8, base 1.75, allowed length 2; llama.cpp's `dry`
  sampler). SmolLM2-135M loops within a few hundred tokens without them;
- Ollama is sent only what was set (`OLLAMA_NAMES`: it has no DRY), so its own defaults and a
  model's Modelfile parameters hold otherwise (v0.32.10 and later apply no penalty by default);
- an OpenAI-compatible server is sent the two penalties every such server takes
  (`frequency_penalty`, `presence_penalty`), when set; anything else is its own default.

The loop detector (`repetition.py`) ends whatever still loops.
"""

from __future__ import annotations

from typing import Any

# name -> its type and the embedded engine's default
EMBEDDED_DEFAULTS: dict[str, float | int] = {
    "repeat_penalty": 1.1, "repeat_last_n": 64, "frequency_penalty": 0.0,
    "presence_penalty": 0.0, "dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2,
    "dry_penalty_last_n": -1}
NAMES = tuple(EMBEDDED_DEFAULTS)
OLLAMA_NAMES = ("repeat_penalty", "repeat_last_n", "frequency_penalty", "presence_penalty")
OPENAI_NAMES = ("frequency_penalty", "presence_penalty")
# where the named option must stay, and why
LIMITS: dict[str, tuple[float, str]] = {
    "repeat_penalty": (0.0, "must be greater than 0 (1 turns it off)"),
    "dry_base": (1.0, "must be greater than 1"),
}


def parse_sampling(raw: str) -> str:
    """`name=value` pairs, comma-separated, as in `repeat_penalty=1.15,dry_multiplier=0`;
    the names are Ollama's option names (`NAMES`). Returns the pairs spelled canonically."""
    return render_sampling(sampling_options(raw))


def sampling_options(raw: str) -> dict[str, float | int]:
    """The options a sampling text sets (an empty text sets none)."""
    options: dict[str, float | int] = {}
    for pair in (part.strip() for part in raw.split(",") if part.strip()):
        name, equals, value = (piece.strip() for piece in pair.partition("="))
        if name not in EMBEDDED_DEFAULTS or not equals:
            raise ValueError(f"names {pair!r}; give name=value pairs with names from "
                             f"{', '.join(NAMES)}")
        kind = type(EMBEDDED_DEFAULTS[name])
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(f"gives {name} the value {value!r}, which is not "
                             f"{'an integer' if kind is int else 'a number'}") from None
        floor, why = LIMITS.get(name, (None, ""))
        if floor is not None and number <= floor:
            raise ValueError(f"gives {name} {value}: it {why}")
        options[name] = number
    return options


def render_sampling(options: dict[str, Any]) -> str:
    return ",".join(f"{name}={value}" for name, value in options.items())


def embedded_sampling(options: dict[str, Any]) -> dict[str, float | int]:
    """Every repetition option for the embedded engine: what was set, defaults for the rest."""
    return {name: type(default)(default if options.get(name) is None else options[name])
            for name, default in EMBEDDED_DEFAULTS.items()}
