"""The eval's judging rules, with a scripted judge: the demo Ollama server answers as the test
says (its answer function replaced for the test), reached through the real Ollama client and
the app's backend, and the eval driver does the rest as it would for a real judge."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import council.llm.demo_text as demo_text
from council.config import Settings
from council.db import standalone_database
from council.evaluation.contestants import solo_contestant
from council.evaluation.questions import Question
from council.evaluation.report import build_report
from council.evaluation.runner import EvalResult, JudgeModel, run_eval
from council.llm import connect_backends
from council.llm.demo_server import DemoServer
from council.models import EvalAnswer, EvalJudgement

JUDGE, ALPHA, BETA = "judge:latest", "alpha:latest", "beta:latest"
ANSWER_OF = re.compile(r"\[Assistant ([AB])'s answer\]\n(.*?)\n\[End of assistant \1's answer\]",
                       re.DOTALL)
Script = Callable[[list[dict[str, str]]], str]


def question_number(messages: list[dict[str, str]]) -> int:
    return int(re.search(r"Question (\d+)", messages[-1]["content"]).group(1))


def shown(messages: list[dict[str, str]]) -> dict[str, str]:
    """The two answers a judge request shows, by letter."""
    request = next(m["content"] for m in messages if "[Assistant A's answer]" in m["content"])
    return dict(ANSWER_OF.findall(request))


@pytest.fixture
def scripted(demo_server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        Callable[[Script, Script, Script], None]]:
    """Make the demo server's `judge`, `alpha` and `beta` models answer by script."""
    for model in (JUDGE, ALPHA, BETA):
        demo_server.add_model(model)

    def install(judge: Script, alpha: Script, beta: Script) -> None:
        scripts = {JUDGE: judge, ALPHA: alpha, BETA: beta}
        original = demo_text.compose_answer

        def answer(messages: list[dict[str, str]], model: str) -> str:
            script = scripts.get(model)
            return script(messages) if script else original(messages, model)

        monkeypatch.setattr(demo_text, "compose_answer", answer)

    yield install
    for model in (JUDGE, ALPHA, BETA):
        demo_server.models.pop(model, None)


def evaluate(settings: Settings, questions: list[Question], judge: str = JUDGE,
             fresh: bool = False) -> tuple[EvalResult, tuple[int, int]]:
    """alpha against beta, judged by `judge`; the result, and the answers and judgements
    stored afterwards."""
    backends, settings = connect_backends(settings)
    try:
        with standalone_database(settings.database_url) as sessions:
            contestants = [solo_contestant(backends, settings, ALPHA, name="alpha"),
                           solo_contestant(backends, settings, BETA, name="beta")]
            result = run_eval(sessions, questions, contestants,
                              JudgeModel(backends.synthesizer, settings, judge),
                              lambda *_: None, fresh=fresh)
            with sessions() as session:
                stored = (session.query(EvalAnswer).count(),
                          session.query(EvalJudgement).count())
    finally:
        backends.close()
    assert result is not None
    return result, stored


def run(settings: Settings, questions: list[Question]) -> tuple[EvalResult, dict[str, Any]]:
    result, _ = evaluate(settings, questions)
    report = build_report({"judge": JUDGE}, ["alpha", "beta"], result.answers, result.pairs)
    return result, report


def open_questions(count: int) -> list[Question]:
    return [Question(f"Question {i}: how should a team of {i + 2} plan its week?",
                     category="practical") for i in range(count)]


def judge_requests(demo_server: DemoServer) -> list[dict[str, Any]]:
    return [r for r in demo_server.requests if r.get("model") == JUDGE]


def test_a_judge_that_always_picks_the_first_position_gives_only_ties(
        settings: Settings, scripted, demo_server: DemoServer) -> None:
    scripted(lambda _m: "A reads better.\n[[A]]", lambda m: f"Plan {question_number(m)} well.",
             lambda m: f"Plan week {question_number(m)} with care and slack.")
    result, report = run(settings, open_questions(12))
    pair = report["pairs"][0]
    assert (pair["wins"], pair["losses"], pair["ties"], pair["missing"]) == (0, 0, 12, 0)
    assert pair["win_rate"] == 0.5 and pair["judge_consistency"] == 0.0
    assert len(judge_requests(demo_server)) == 24  # every pair in both orders, no retries
    assert any("position" in warning for warning in report["warnings"])
    assert result.tally.judgements_new == 24


def test_a_length_loving_judge_is_corrected_by_the_length_controlled_rate(
        settings: Settings, scripted) -> None:
    def longer(messages: list[dict[str, str]]) -> str:
        answers = shown(messages)
        return "[[A]]" if len(answers["A"]) > len(answers["B"]) else "[[B]]"

    def steps(count: int, number: int) -> str:  # distinct steps: the loop detector keeps them
        return " ".join(f"Step {step} of plan {number}." for step in range(count))

    def alpha(messages: list[dict[str, str]]) -> str:  # long on 7 questions in 10
        number = question_number(messages)
        return steps(40 if number % 10 < 7 else 5, number)

    scripted(longer, alpha, lambda m: steps(20, question_number(m)))
    _, report = run(settings, open_questions(30))
    pair = report["pairs"][0]
    assert (pair["wins"], pair["losses"], pair["ties"]) == (21, 9, 0)
    assert pair["judge_consistency"] == 1.0
    raw, controlled = pair["win_rate"], pair["length_controlled_win_rate"]
    assert raw == pytest.approx(0.7)
    assert abs(controlled - 0.5) < 0.5 * abs(raw - 0.5)


def test_a_judge_without_a_verdict_gives_missing_not_wins(settings: Settings, scripted,
                                                          demo_server: DemoServer) -> None:
    scripted(lambda _m: "Both answers have merit; it depends on the team.",
             lambda m: f"Plan {question_number(m)} well.", lambda _m: "Plan.")
    result, report = run(settings, open_questions(5))
    pair = report["pairs"][0]
    assert (pair["wins"], pair["losses"], pair["ties"], pair["missing"]) == (0, 0, 0, 5)
    assert pair["win_rate"] is None
    assert len(judge_requests(demo_server)) == 20  # 5 pairs x 2 orders x (ask + one retry)
    assert all(p.score is None for p in result.pairs)


def test_checkable_questions_are_scored_by_exact_match_without_the_judge(
        settings: Settings, scripted, demo_server: DemoServer) -> None:
    scripted(lambda _m: "[[A]]", lambda m: f"Working...\nAnswer: {question_number(m) * 2}",
             lambda m: f"The answer is {question_number(m) * 2}!\nAnswer: 0")
    questions = [Question(f"Question {i}: what is {i} doubled?", answer=str(i * 2),
                          category="checkable") for i in range(1, 7)]
    result, report = run(settings, questions)
    assert judge_requests(demo_server) == [] and result.pairs == []
    scores = {row["name"]: row["exact_match"] for row in report["contestants"]}
    assert scores["alpha"]["correct"] == 6 and scores["alpha"]["accuracy"] == 1.0
    assert scores["beta"]["correct"] == 0
    assert 0 < scores["alpha"]["interval"][0] < 1.0 == scores["alpha"]["interval"][1]


def test_a_second_run_asks_nothing_again_and_a_second_judge_reuses_the_answers(
        settings: Settings, scripted, demo_server: DemoServer) -> None:
    scripted(lambda _m: "[[B]]", lambda m: f"Plan {question_number(m)}.", lambda _m: "Plan.")
    questions = open_questions(4)
    run(settings, questions)
    asked = len(demo_server.requests)
    result, _ = run(settings, questions)
    assert len(demo_server.requests) == asked  # answers and verdicts all from the database
    assert (result.tally.answers_cached, result.tally.judgements_cached) == (8, 8)
    demo_server.add_model("judge2:latest")
    try:
        again, stored = evaluate(settings, questions, judge="judge2:latest")
    finally:
        demo_server.models.pop("judge2:latest", None)
    assert stored == (8, 16)
    assert again.tally.answers_new == 0 and again.tally.judgements_new == 8


def test_fresh_asks_every_answer_and_verdict_again(settings: Settings, scripted,
                                                   demo_server: DemoServer) -> None:
    scripted(lambda _m: "[[A]]", lambda m: f"Plan {question_number(m)}.", lambda _m: "Plan.")
    questions = open_questions(3)
    run(settings, questions)
    asked = len(demo_server.requests)
    again, stored = evaluate(settings, questions, fresh=True)
    assert stored == (6, 6)  # replaced, not added
    assert (again.tally.answers_new, again.tally.judgements_new) == (6, 6)
    assert len(demo_server.requests) == 2 * asked
