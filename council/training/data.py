"""Training pairs for a persona's LoRA adapter, answered by the local synthesizer in its voice.

The user side of each pair is one of the user's own messages from the persona's discovered
cluster; the assistant side is written by the synthesizer model (through the same backend as
the council) under the persona's system prompt. Every generation, kept or dropped, is appended
to the persona's generation log (`PersonaFiles.training_pairs`) as it arrives, so an
interrupted run continues where it stopped and never asks twice; the train/eval files are then
rewritten atomically from that log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_jsonl_atomic
from ..files import PersonaFiles, appended_jsonl_objects
from ..llm.base import ChatBackend, LLMError

EVAL_SHARE = 10  # about one pair in EVAL_SHARE goes to the eval split
# A held-out figure needs answers the adapter never saw, and over fewer pairs than this it rests
# on a couple of hundred answer tokens: one odd answer moves it.
MIN_EVAL_PAIRS = 3
# Holding MIN_EVAL_PAIRS out must leave at least three times as many to train on, so with fewer
# pairs than this there is no eval split (and no held-out figure); the page says how many to ask
# for.
MIN_PAIRS_FOR_EVAL = 4 * MIN_EVAL_PAIRS
MIN_ANSWER_CHARS = 40
MAX_QUESTION_CHARS = 4000
STYLE_NOTE = ("Answer the user's message as this persona would: in its voice, with its "
              "priorities and habits. Do not mention being an AI, a model or a persona.")
REFUSAL = re.compile(r"^\W*(i'?m sorry,? but|i (?:can(?:not|'t)|won'?t|am unable to) "
                     r"(?:help|assist|answer|comply|do that|provide))|^\W*as an ai\b", re.I)
OUT_OF_CHARACTER = re.compile(r"\b(as an ai|as a (?:large )?language model|i am an ai|"
                              r"my system prompt|i'?m (?:qwen|chatgpt|claude|an assistant "
                              r"created by))\b", re.I)
DROP_REASONS = {"empty": "empty or too short", "refused": "refused to answer",
                "off_persona": "broke character (spoke as an AI or about its prompt)",
                "error": "the model could not be reached or failed mid-answer"}

Progress = Callable[[int, int], None]


class TrainingDataError(ValueError):
    """The persona has nothing to train on, or its inputs cannot be read."""


@dataclass(frozen=True)
class PersonaSpec:
    slug: str
    name: str
    system_prompt: str


@dataclass
class PreparedData:
    train_path: Path
    eval_path: Path
    train: int = 0
    eval: int = 0
    generated_now: int = 0
    reused: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {"train": self.train, "eval": self.eval, "generated_now": self.generated_now,
                "reused": self.reused, "dropped": dict(self.dropped),
                "train_path": str(self.train_path), "eval_path": str(self.eval_path)}


def persona_messages(personas_dir: Path, slug: str, fallback: Iterable[str] = ()) -> list[str]:
    """The user's own messages of the persona's cluster, else `fallback` (its examples)."""
    texts = [str(row.get("text") or "") for row in PersonaFiles(personas_dir).cluster_rows(slug)]
    texts = texts or [str(t) for t in fallback]
    unique = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    return [t[:MAX_QUESTION_CHARS] for t in unique]


def drop_reason(answer: str) -> str | None:
    """Why a generated answer is not fit to train on, or None when it is."""
    text = answer.strip()
    if len(text) < MIN_ANSWER_CHARS:
        return "empty"
    if REFUSAL.search(text):
        return "refused"
    if OUT_OF_CHARACTER.search(text):
        return "off_persona"
    return None


def eval_count(pairs: int) -> int:
    """How many of `pairs` kept pairs are held out: none below MIN_PAIRS_FOR_EVAL, else about
    one in EVAL_SHARE and at least MIN_EVAL_PAIRS."""
    if pairs < MIN_PAIRS_FOR_EVAL:
        return 0
    return max(MIN_EVAL_PAIRS, round(pairs / EVAL_SHARE))


def split_note(train: int, held_out: int) -> str | None:
    """What to tell the user when pairs are kept without an eval split (None when there is
    one): that no held-out figure will be shown, and how to get one."""
    if held_out or not train:
        return None
    if train >= MIN_PAIRS_FOR_EVAL:
        return (f"no held-out split: prepare the data again to hold {eval_count(train)} of the "
                f"{train} pairs out, so registration can measure the adapter on them")
    return (f"no held-out split: {train} pairs are too few to hold some out; prepare at least "
            f"{MIN_PAIRS_FOR_EVAL} pairs (then {MIN_EVAL_PAIRS} are held out) for a held-out "
            "figure")


def _key(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()


def _read_log(path: Path) -> dict[str, dict[str, Any]]:
    """Entries already generated, by question key; a torn last line (a crash) is ignored."""
    return {entry["key"]: entry for entry in appended_jsonl_objects(path) if "key" in entry}


def _append(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _generate(backend: ChatBackend, model: str, persona: PersonaSpec, question: str,
              max_tokens: int) -> tuple[str, str | None]:
    messages = [{"role": "system", "content": f"{persona.system_prompt}\n\n{STYLE_NOTE}"},
                {"role": "user", "content": question}]
    try:
        answer = "".join(chunk for chunk in backend.stream_chat(
            model, messages, {"temperature": 0.7, "num_predict": max_tokens})
            if isinstance(chunk, str))
    except LLMError:
        return "", "error"
    return answer.strip(), drop_reason(answer)


def chat_example(persona: PersonaSpec, question: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": persona.system_prompt},
                         {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


def prepare_training_data(persona: PersonaSpec, questions: list[str], backend: ChatBackend,
                          model: str, personas_dir: Path, examples: int = 200,
                          progress: Progress | None = None, max_tokens: int = 512,
                          parallel: int = 4) -> PreparedData:
    """Generate up to `examples` pairs of answers up to `max_tokens` long, `parallel` at a
    time (the engine batches them; Ollama queues what it cannot run), resuming from the log;
    then write train/eval."""
    if not questions:
        raise TrainingDataError(
            f"Persona {persona.name!r} has no messages to learn from: run discovery (Discover "
            "page or `council discover`) or give it example messages first.")
    train_path, eval_path, log_path = PersonaFiles(personas_dir).training_pairs(persona.slug)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = _read_log(log_path)
    chosen = questions[:examples]
    result = PreparedData(train_path, eval_path)
    missing = list(dict.fromkeys(q for q in chosen if _key(q) not in done))
    result.reused = len(chosen) - len(missing)
    finished = result.reused
    if progress is not None:
        progress(finished, len(chosen))

    def generate(question: str) -> dict[str, Any]:
        answer, reason = _generate(backend, model, persona, question, max_tokens)
        return {"key": _key(question), "question": question, "answer": answer,
                "dropped": reason, "model": model}

    def record(entry: dict[str, Any]) -> None:
        nonlocal finished
        _append(log_path, entry)
        done[entry["key"]] = entry
        result.generated_now += 1
        finished += 1
        if progress is not None:
            progress(finished, len(chosen))

    # at most `parallel` answers in flight, logged in question order as they complete, so an
    # interruption loses at most those
    pending: deque[Future[dict[str, Any]]] = deque()
    with ThreadPoolExecutor(max_workers=max(parallel, 1)) as pool:
        for question in missing:
            pending.append(pool.submit(generate, question))
            if len(pending) >= parallel:
                record(pending.popleft().result())
        while pending:
            record(pending.popleft().result())
    kept = []
    for question in chosen:
        entry = done[_key(question)]
        if entry.get("dropped"):
            result.dropped[entry["dropped"]] += 1
            continue
        kept.append((entry["key"], chat_example(persona, question, entry["answer"])))
    # the pairs with the lowest question hashes are held out: a re-run holds out the same
    held = set(sorted(key for key, _ in kept)[:eval_count(len(kept))])
    train_rows = [row for key, row in kept if key not in held]
    eval_rows = [row for key, row in kept if key in held]
    write_jsonl_atomic(train_path, train_rows)
    write_jsonl_atomic(eval_path, eval_rows)
    result.train, result.eval = len(train_rows), len(eval_rows)
    return result
