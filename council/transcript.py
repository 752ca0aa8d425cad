"""A conversation as a Markdown transcript: what the export download holds.

It reads the same payload the council page draws (`web/payloads.conversation_payload`), so the
transcript shows what the page shows: every round's question, each worker's answer under its
persona's name with its model and the votes it got, the council answer, and the round's verdict.
"""

from __future__ import annotations

from typing import Any

VERDICTS = {"best": "★ best", "down": "▼ thumbs down"}
UNFINISHED = {"failed": "failed", "timeout": "timed out", "stopped": "stopped",
              "interrupted": "interrupted", "running": "still running"}


def _outcome(item: dict[str, Any]) -> str:
    """"stopped", or "failed: <why>", for an answer or a round that did not finish."""
    said = UNFINISHED.get(item["status"], item["status"])
    return f"{said}: {item['error']}" if item.get("error") else said


def _answer(worker: dict[str, Any], marks: list[str]) -> list[str]:
    heading = " · ".join([worker["name"], worker["model"], *marks])
    lines = [f"### {heading}", ""]
    if worker.get("weight") is not None:
        lines += [f"_Router weight {worker['weight'] * 100:.0f}%_", ""]
    if worker["text"].strip():
        lines += [worker["text"].strip(), ""]
    if worker["status"] != "done":
        lines += [f"_{_outcome(worker)}_", ""]
    return lines


def _round(number: int, round_: dict[str, Any]) -> list[str]:
    marks: dict[int, list[str]] = {}
    for vote in round_["votes"]:
        if vote["kind"] in VERDICTS and vote["answer_id"] is not None:
            marks.setdefault(vote["answer_id"], []).append(VERDICTS[vote["kind"]])
    lines = [f"## Round {number}", "", "**Question**", "", round_["user_message"].strip(), ""]
    for worker in round_["workers"]:
        lines += _answer(worker, marks.get(worker["answer_id"], []))
    synthesis = round_.get("synthesis")
    if synthesis and synthesis["text"].strip():
        lines += [f"### Council answer · {synthesis['model']}", "", synthesis["text"].strip(), ""]
    if any(vote["kind"] == "tie" for vote in round_["votes"]):
        lines += ["_Verdict: a tie (no answer stands out)._", ""]
    if round_["status"] != "done":
        lines += [f"_Round {_outcome(round_)}._", ""]
    return lines


def markdown(conversation: dict[str, Any]) -> str:
    """The whole conversation, one `## Round n` section per question, oldest first."""
    rounds = conversation["rounds"]
    updated = conversation["updated_at"][:16].replace("T", " ")
    count = f"{len(rounds)} round{'' if len(rounds) == 1 else 's'}"
    lines = [f"# {conversation['title']}", "",
             f"_AI Council conversation {conversation['id']}, {count}, last updated {updated} UTC._",
             ""]
    for number, round_ in enumerate(rounds, start=1):
        lines += _round(number, round_)
    return "\n".join(lines).rstrip() + "\n"
