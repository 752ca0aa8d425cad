"""An evaluation's report from synthetic answers and verdicts: every figure of report.json on
hand-computed cases, and the three files it is written as.

Why: the report is what a person reads to decide whether the council beats a model alone, so a
missing verdict must never count as a win, a judge that only follows position must show as all
ties with no consistency, a length-biased judge must be seen through, and each figure must
carry its uncertainty and the warnings that qualify it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from council.evaluation.report import AnswerRecord, PairRecord, build_report, write_report
from council.evaluation.stats import (
    LOSS,
    TIE,
    WIN,
    bootstrap_interval,
    length_controlled_win_rate,
)

CONTESTANTS = ["council", "solo", "worker"]
RUN = {"question_set": "shipped", "questions": 12, "checkable": 10, "judge": "qwen2.5:7b",
       "judge_is_contestant": False, "backend": "ollama", "worker_model": "qwen2.5:3b",
       "synth_model": "qwen2.5:7b", "started_at": "2026-01-01T10:00:00+00:00",
       "finished_at": "2026-01-01T10:30:00+00:00", "seed": 7}


def answer(contestant: str, key: str, seconds: float = 1.0, tokens: int = 10,
           correct: bool | None = None, status: str = "done") -> AnswerRecord:
    return AnswerRecord(key, contestant, status, "" if status == "failed" else "an answer",
                        seconds, tokens, correct)


def pair(key: str, score: float | None, first: str = "council", second: str = "solo",
         consistent: bool | None = True, length_difference: int = 0) -> PairRecord:
    return PairRecord(key, first, second, score, None if score is None else consistent,
                      length_difference)


def report(pairs: list[PairRecord], answers: list[AnswerRecord] | None = None,
           **run: Any) -> dict[str, Any]:
    return build_report({**RUN, **run}, CONTESTANTS, answers or [], pairs)


def settled(count: int, first: str = "council", second: str = "solo") -> list[PairRecord]:
    """`count` questions `first` won in both orders: a pair with nothing to warn about."""
    return [pair(f"s{i}", WIN, first, second) for i in range(count)]


def test_pair_figures_on_a_hand_computed_case() -> None:
    records = [pair("q1", WIN, length_difference=40), pair("q2", WIN, length_difference=-5),
               pair("q3", TIE, length_difference=3), pair("q4", None, length_difference=8),
               # told from solo's side, as a runner may: solo lost, so council won
               pair("q5", LOSS, "solo", "council", length_difference=-10)]
    built = report(records)
    assert set(built) == {"run", "warnings", "pairs", "contestants"}
    assert built["run"] == RUN
    [row] = built["pairs"]
    scores, differences = [1.0, 1.0, 0.5, 1.0], [40, -5, 3, 10]
    assert row == {
        "a": "council", "b": "solo", "questions": 5, "wins": 3, "losses": 0, "ties": 1,
        "missing": 1, "win_rate": 0.875, "interval": list(bootstrap_interval(scores)),
        "length_controlled_win_rate": length_controlled_win_rate(scores, differences),
        "judge_consistency": 1.0, "provisional": True}
    assert 0.5 <= row["interval"][0] <= 0.875 <= row["interval"][1] <= 1.0


def test_pairs_follow_the_contestants_order_whichever_side_the_records_take() -> None:
    records = [*settled(10, "worker", "council"), pair("x", LOSS, "worker", "solo"),
               pair("y", WIN, "solo", "worker")]
    rows = report(records)["pairs"]
    assert [(r["a"], r["b"]) for r in rows] == [("council", "worker"), ("solo", "worker")]
    assert (rows[0]["wins"], rows[0]["losses"], rows[0]["win_rate"]) == (0, 10, 0.0)
    assert (rows[1]["wins"], rows[1]["losses"], rows[1]["win_rate"]) == (2, 0, 1.0)


def test_a_missing_verdict_is_missing_never_a_win() -> None:
    [row] = report([pair("q1", None), pair("q2", None), pair("q3", LOSS)])["pairs"]
    assert (row["wins"], row["losses"], row["ties"], row["missing"]) == (0, 1, 0, 2)
    assert row["win_rate"] == 0.0 and row["judge_consistency"] == 1.0
    [none] = report([pair("q1", None)])["pairs"]
    assert none["win_rate"] is None and none["interval"] is None
    assert none["length_controlled_win_rate"] is None and none["judge_consistency"] is None


def test_a_judge_that_always_picks_a_position_gives_all_ties_and_no_consistency() -> None:
    """Both orders named the same position, so they disagree on the answer: the runner makes
    such a question a tie that was not consistent."""
    records = [pair(f"q{i}", TIE, consistent=False, length_difference=i - 6)
               for i in range(12)]
    built = report(records)
    [row] = built["pairs"]
    assert (row["wins"], row["losses"], row["ties"]) == (0, 0, 12)
    assert row["win_rate"] == 0.5 and row["judge_consistency"] == 0.0
    assert row["interval"] == [0.5, 0.5]
    assert any("mostly follows position, not content" in w for w in built["warnings"])


def test_length_control_moves_a_length_biased_win_rate_towards_half() -> None:
    """The longer answer wins nine times in ten, and council's is longer on 30 of 40."""
    records = []
    for i in range(40):
        longer = i < 30
        difference = (50 + i) if longer else -(50 + i)
        won = longer != (i % 10 == 0)  # the judge goes against length once in ten
        records.append(pair(f"q{i}", WIN if won else LOSS, length_difference=difference))
    [row] = report(records)["pairs"]
    assert row["win_rate"] == pytest.approx(0.7)
    assert abs(row["length_controlled_win_rate"] - 0.5) < abs(row["win_rate"] - 0.5)


def test_contestant_figures_exact_match_with_its_wilson_interval_and_medians() -> None:
    answers = [answer("council", f"c{i}", correct=i < 7, seconds=i, tokens=10 * i)
               for i in range(9)]
    answers.append(answer("council", "c9", correct=False, status="failed", seconds=99))
    answers += [answer("solo", "o1", seconds=1.0, tokens=10),
                answer("solo", "o2", seconds=2.0, tokens=20),
                answer("solo", "o3", seconds=10.0, tokens=30),
                answer("solo", "o4", seconds=4.0, tokens=40)]
    council, solo, worker = report([], answers)["contestants"]
    assert council["name"] == "council"
    assert (council["answers"], council["failed"]) == (9, 1)
    exact = council["exact_match"]
    assert (exact["correct"], exact["total"], exact["accuracy"]) == (7, 10, 0.7)
    assert exact["interval"] == pytest.approx([0.3968, 0.8922], abs=1e-4)  # Wilson, 7 of 10
    assert council["median_seconds"] == 4.0  # the failed answer's time is left out
    assert council["median_tokens"] == 40.0
    assert solo == {"name": "solo", "answers": 4, "failed": 0, "exact_match": None,
                    "median_seconds": 3.0, "median_tokens": 25.0}
    assert worker == {"name": "worker", "answers": 0, "failed": 0, "exact_match": None,
                      "median_seconds": None, "median_tokens": None}


def test_warnings_say_what_qualifies_the_figures() -> None:
    assert report(settled(10))["warnings"] == []
    answers = [answer("solo", "q1", status="failed"), answer("solo", "q2", status="failed"),
               answer("worker", "q1", status="failed")]
    records = [*settled(4), pair("m1", None), pair("m2", None, "solo", "worker")]
    warnings = report(records, answers, judge="solo", judge_is_contestant=True)["warnings"]
    text = "\n".join(warnings)
    assert "The judge (solo) is also a contestant" in text and "self-preference" in text
    assert "council vs solo: 4 judged questions, fewer than 10; its win rate is provisional" \
        in text
    assert "2 verdicts missing" in text and "council vs solo 1, solo vs worker 1" in text
    assert "3 answers failed: solo 2, worker 1." in text
    assert "follows position" not in text


@pytest.mark.parametrize("records", [[pair("q", WIN, "council", "someone")],
                                     [pair("q", WIN, "solo", "solo")],
                                     [pair("q", WIN), pair("q", LOSS, "solo", "council")]])
def test_records_that_cannot_be_counted_are_refused(records: list[PairRecord]) -> None:
    with pytest.raises(ValueError):
        report(records)


def test_write_report_writes_three_files_the_same_each_time(tmp_path: Path) -> None:
    records = [*settled(6), pair("t", TIE), *settled(3, "council", "worker")]
    answers = [answer("council", "c1", correct=True), answer("solo", "c1", correct=False)]
    built = report(records, answers)
    paths = write_report(built, tmp_path / "one")
    assert [p.name for p in paths] == ["report.json", "report.md", "chart.svg"]
    assert json.loads(paths[0].read_text(encoding="utf-8")) == built

    markdown = paths[1].read_text(encoding="utf-8")
    assert markdown.startswith("# Evaluation: shipped")
    assert "![Win rate of each pair, with its 95% interval](chart.svg)" in markdown
    assert "| council | solo | 93% (" in markdown and ", provisional |" in markdown
    assert "| 6 / 0 / 1 | 0 | 100% |" in markdown
    assert "| council | 1 | 0 | 1 of 1, 100% (" in markdown
    assert "## Warnings" in markdown and "**How to read this.**" in markdown

    svg = ElementTree.parse(paths[2]).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    bars = [e for e in svg.iter() if e.get("id", "").startswith("pair-")]
    assert len(bars) == len(built["pairs"]) == 2
    text = paths[2].read_text(encoding="utf-8")
    assert "council vs solo (provisional)" in text and "win rate of the first contestant" in text

    again = write_report(built, tmp_path / "two")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    assert not [p for p in (tmp_path / "one").iterdir() if p.name.endswith(".tmp")]
