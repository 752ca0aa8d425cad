"""An evaluation's report, from the answers and verdicts `council eval` collected: the figures
per pair of contestants and per contestant (council/evaluation/stats.py computes each with its
uncertainty), the warnings a reader needs before trusting them, and the three files of `--out`:
`report.json` (what Analytics shows), `report.md` (for a person) and `chart.svg`.

Pure over plain records: the runner turns database rows into `AnswerRecord`s and
`PairRecord`s, so the arithmetic here is tested on hand-made cases.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic, write_text_atomic
from .report_chart import win_rate_chart
from .report_markdown import percent, report_markdown
from .stats import PROVISIONAL_BELOW, length_controlled_win_rate, wilson_interval, win_rate

REPORT_JSON, REPORT_MD, CHART_SVG = "report.json", "report.md", "chart.svg"
POSITION_BIASED_BELOW = 0.5  # a judge agreeing with itself less often follows position


@dataclass(frozen=True)
class AnswerRecord:
    """One contestant's answer to one question."""

    question_key: str
    contestant: str
    status: str  # "done" | "failed"
    text: str
    seconds: float
    tokens: int
    correct: bool | None  # checkable questions only; None for an open question


@dataclass(frozen=True)
class PairRecord:
    """One pair of contestants on one open question, judged in both orders."""

    question_key: str
    first: str  # the contestant this score is for
    second: str
    score: float | None  # WIN / TIE / LOSS for `first`; None = missing (an order had no verdict)
    consistent: bool | None  # both orders named the same winner or both tie; None when missing
    length_difference: int  # len(first's answer) - len(second's answer), characters

    def flipped(self) -> PairRecord:
        """The same verdict told from `second`'s side."""
        return PairRecord(self.question_key, self.second, self.first,
                          None if self.score is None else 1.0 - self.score,
                          self.consistent, -self.length_difference)


def _oriented(contestants: Sequence[str],
              pairs: Iterable[PairRecord]) -> dict[tuple[str, str], list[PairRecord]]:
    """Each unordered pair's records, told from the side of the one listed first."""
    place = {name: i for i, name in enumerate(contestants)}
    grouped: dict[tuple[str, str], list[PairRecord]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()
    for record in pairs:
        unknown = {record.first, record.second} - place.keys()
        if unknown or record.first == record.second:
            raise ValueError(f"pair record {record.first!r} vs {record.second!r}: both sides "
                             f"must be different contestants of {list(contestants)}")
        if place[record.first] > place[record.second]:
            record = record.flipped()
        key = (record.first, record.second, record.question_key)
        if key in seen:
            raise ValueError(f"two records for {record.first} vs {record.second} on question "
                             f"{record.question_key!r}: one per pair and question")
        seen.add(key)
        grouped[(record.first, record.second)].append(record)
    return {pair: grouped[pair] for pair in sorted(grouped, key=lambda p: (place[p[0]],
                                                                           place[p[1]]))}


def pair_row(a: str, b: str, records: Sequence[PairRecord]) -> dict[str, Any]:
    """`a` against `b`: counts, win rate (ties as half, missing left out) with its bootstrap
    interval over questions, the length-controlled rate and how often the judge agreed with
    itself when the order was swapped."""
    judged = [r for r in records if r.score is not None]
    scores = [float(r.score) for r in judged if r.score is not None]
    rate = win_rate(scores)
    return {"a": a, "b": b, "questions": len(records), "wins": rate.wins,
            "losses": rate.losses, "ties": rate.ties, "missing": len(records) - len(judged),
            "win_rate": rate.rate,
            "interval": None if rate.low is None else [rate.low, rate.high],
            "length_controlled_win_rate": length_controlled_win_rate(
                scores, [r.length_difference for r in judged]),
            "judge_consistency": (sum(1 for r in judged if r.consistent) / len(judged)
                                  if judged else None),
            "provisional": rate.provisional}


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def contestant_row(name: str, answers: Sequence[AnswerRecord]) -> dict[str, Any]:
    """One contestant: answers given and failed, exact match on the checkable questions (a
    failed answer there counts as wrong, as the runner marks it), medians of its answers."""
    done = [a for a in answers if a.status == "done"]
    checked = [a for a in answers if a.correct is not None]
    exact = None
    if checked:
        correct = sum(1 for a in checked if a.correct)
        interval = wilson_interval(correct, len(checked))
        exact = {"correct": correct, "total": len(checked), "accuracy": correct / len(checked),
                 "interval": list(interval) if interval else None}
    return {"name": name, "answers": len(done), "failed": len(answers) - len(done),
            "exact_match": exact,
            "median_seconds": _median([a.seconds for a in done]),
            "median_tokens": _median([float(a.tokens) for a in done])}


def report_warnings(run: dict[str, Any], pairs: Sequence[dict[str, Any]],
                    contestants: Sequence[dict[str, Any]]) -> list[str]:
    """What a reader must know before trusting the figures."""
    warnings = []
    if run.get("judge_is_contestant"):
        warnings.append(f"The judge ({run.get('judge')}) is also a contestant: judges tend to "
                        f"prefer their own answers (self-preference), so its wins are suspect.")
    for pair in pairs:
        vs = f"{pair['a']} vs {pair['b']}"
        verdicts = pair["wins"] + pair["losses"] + pair["ties"]
        if pair["provisional"]:
            warnings.append(f"{vs}: {verdicts} judged questions, fewer than "
                            f"{PROVISIONAL_BELOW}; its win rate is provisional.")
        if pair["judge_consistency"] is not None \
                and pair["judge_consistency"] < POSITION_BIASED_BELOW:
            warnings.append(f"{vs}: the judge gave the same verdict in both orders on only "
                            f"{percent(pair['judge_consistency'])} of the questions: the judge "
                            f"mostly follows position, not content.")
    missing = {f"{p['a']} vs {p['b']}": p["missing"] for p in pairs if p["missing"]}
    if missing:
        warnings.append(f"{_plural(sum(missing.values()), 'verdict')} missing (no parsable "
                        f"verdict after one retry; counted as neither win nor loss): "
                        + _counts(missing))
    failed = {c["name"]: c["failed"] for c in contestants if c["failed"]}
    if failed:
        warnings.append(f"{_plural(sum(failed.values()), 'answer')} failed: " + _counts(failed))
    return warnings


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) + "."


def build_report(run: dict[str, Any], contestants: list[str], answers: list[AnswerRecord],
                 pairs: list[PairRecord]) -> dict[str, Any]:
    """The report as report.json holds it (its shape: docs/http-api.md, `GET /api/eval`);
    pairs in the order of `contestants`, `a` the one listed first."""
    by_contestant: dict[str, list[AnswerRecord]] = defaultdict(list)
    for answer in answers:
        by_contestant[answer.contestant].append(answer)
    pair_rows = [pair_row(a, b, records)
                 for (a, b), records in _oriented(contestants, pairs).items()]
    contestant_rows = [contestant_row(name, by_contestant[name]) for name in contestants]
    return {"run": dict(run), "warnings": report_warnings(run, pair_rows, contestant_rows),
            "pairs": pair_rows, "contestants": contestant_rows}


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """report.json, report.md and chart.svg in `out_dir`, each written whole or not at all."""
    paths = [out_dir / REPORT_JSON, out_dir / REPORT_MD, out_dir / CHART_SVG]
    write_json_atomic(paths[0], report)
    write_text_atomic(paths[1], report_markdown(report, CHART_SVG))
    write_text_atomic(paths[2], win_rate_chart(report["pairs"]))
    return paths
