"""report.md: an evaluation's report for a person, from the same dict as report.json, with
the paragraph that says how to read its figures (the README explains them at length)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HOW_TO_READ = (
    "**How to read this.** Each pair's win rate is the share of questions the first "
    "contestant won, a tie counting as half; a missing verdict counts for neither. The judge "
    "sees every pair twice with the order swapped, and a win counts only when both orders "
    "agree: anything else is a tie. The judge's consistency is the share of questions where "
    "both orders gave the same verdict; below 50% the judge mostly follows position, not "
    "content. The length-controlled (LC) win rate is the win rate a logistic model predicts "
    "for two answers of equal length, so a judge that rewards longer answers moves it less "
    "than the raw rate. The 95% intervals are bootstrapped over questions (Wilson intervals "
    "for exact match): with few questions they are wide, and two contestants whose intervals "
    "overlap much may not differ at all. A judge the same size as the contestants is a weak "
    "judge: prefer one larger than every contestant.")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _interval(bounds: Sequence[float] | None) -> str:
    return "" if bounds is None else f" ({bounds[0] * 100:.0f}–{bounds[1] * 100:.0f}%)"


def _number(value: float | None, decimals: int = 1) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head),
            *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)]


def _facts(run: dict[str, Any]) -> list[str]:
    def fact(key: str) -> str:
        value = run.get(key)
        return "—" if value in (None, "") else _cell(value)

    judge = fact("judge") + (" (also a contestant)" if run.get("judge_is_contestant") else "")
    return [(f"- **Questions:** {fact('questions')} from {fact('question_set')}, "
             f"{fact('checkable')} of them checkable by exact match"),
            f"- **Judge:** {judge}",
            (f"- **Backend:** {fact('backend')}; workers {fact('worker_model')}, synthesizer "
             f"{fact('synth_model')}"),
            f"- **Ran:** {fact('started_at')} to {fact('finished_at')}, seed {fact('seed')}"]


def _pairs(pairs: Sequence[dict[str, Any]]) -> list[str]:
    if not pairs:
        return ["No pair was judged (the question set has no open questions)."]
    return _table(
        ["first (a)", "second (b)", "win rate of a (95% interval)", "LC win rate",
         "wins / losses / ties", "missing", "judge consistency"],
        [[p["a"], p["b"], percent(p["win_rate"]) + _interval(p["interval"])
          + (", provisional" if p["provisional"] else ""),
          percent(p["length_controlled_win_rate"]), f"{p['wins']} / {p['losses']} / {p['ties']}",
          p["missing"], percent(p["judge_consistency"])] for p in pairs])


def _exact(exact: dict[str, Any] | None) -> str:
    if exact is None:
        return "—"
    return (f"{exact['correct']} of {exact['total']}, {percent(exact['accuracy'])}"
            f"{_interval(exact['interval'])}")


def _contestants(contestants: Sequence[dict[str, Any]]) -> list[str]:
    return _table(
        ["contestant", "answers", "failed", "exact match (95% interval)", "median seconds",
         "median tokens"],
        [[c["name"], c["answers"], c["failed"], _exact(c["exact_match"]),
          _number(c["median_seconds"]), _number(c["median_tokens"], 0)] for c in contestants])


def report_markdown(report: dict[str, Any], chart_name: str) -> str:
    """The whole report.md; `chart_name` is the chart's file beside it."""
    run = report["run"]
    warnings = [f"- {_cell(w)}" for w in report["warnings"]] or ["None."]
    lines = [f"# Evaluation: {_cell(run.get('question_set', ''))}", "", *_facts(run), "",
             f"![Win rate of each pair, with its 95% interval]({chart_name})", "",
             "## Pairs", "", *_pairs(report["pairs"]), "",
             "## Contestants", "", *_contestants(report["contestants"]), "",
             "## Warnings", "", *warnings, "", HOW_TO_READ, ""]
    return "\n".join(lines)
