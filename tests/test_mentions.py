"""@mentions by the name the page shows: any case, spacing and punctuation, the role word or the
slug ask that persona; a mention that names no one, several or a disabled persona leaves the
round to the router and the round says so, naming the candidates."""

from __future__ import annotations

import pytest
from flask import Flask

from council.db import session_scope
from council.models import Persona
from council.personas import create_persona
from council.rounds.mentions import resolve
from council.slugs import slugify
from tests.sockets import CouncilClient

SHIPPED = ["Architect", "Skeptic", "Explorer", "Pragmatist"]
DOCKER, PYTHON = "The Learner (docker)", "The Learner (python)"
ANALYST = "The Data Analyst (pandas merge)"


def council(*names: str, disabled: tuple[str, ...] = ()) -> list[Persona]:
    """Personas as the database holds them, ids in the order given."""
    return [Persona(id=i, name=name, slug=slugify(name), enabled=name not in disabled)
            for i, name in enumerate((*names, *disabled))]


def chosen(question: str, personas: list[Persona]) -> set[str]:
    by_id = {p.id: p.name for p in personas}
    return {by_id[i] for i in resolve(question, personas).chosen}


@pytest.mark.parametrize("question", [
    "@TheLearner(docker) how do I shrink an image?",   # the README's "name without spaces"
    "@the learner (docker) how do I shrink an image?",
    "@THE-LEARNER-DOCKER, how do I shrink an image?",
    "@thelearnerdocker how do I shrink an image?",
    "@Learner(docker): how do I shrink an image?",
    "@Learner docker how do I shrink an image?",
    "@docker how do I shrink an image?",               # a word only it has
    "What does @the-learner-docker think?",            # its slug
    "What's @TheLearner(docker)'s take?",
])
def test_a_mention_by_the_name_shown_asks_that_persona(question: str) -> None:
    personas = council(*SHIPPED, DOCKER, PYTHON, ANALYST)
    assert chosen(question, personas) == {DOCKER}
    assert resolve(question, personas).notice() is None


@pytest.mark.parametrize(("question", "expected"), [
    ("@Learner, hi", DOCKER),                # the role word, when one persona has it
    ("@learner hi", DOCKER),
    ("@LEARN hi", DOCKER),                   # the start of the role
    ("@DataAnalyst hi", ANALYST),            # the role as a whole
    ("@data analyst what now?", ANALYST),
    ("@Analyst hi", ANALYST),
    ("@pandas hi", ANALYST),
    ("@skep and more", "Skeptic"),
    ("(ask @Sképtic)", "Skeptic"),
])
def test_the_role_word_or_a_unique_start_is_enough(question: str, expected: str) -> None:
    assert chosen(question, council(*SHIPPED, DOCKER, ANALYST)) == {expected}


def test_the_whole_name_wins_over_a_word_of_another() -> None:
    personas = council("Learner", DOCKER)
    assert chosen("@Learner hi", personas) == {"Learner"}
    assert chosen("@docker hi", personas) == {DOCKER}


def test_a_mention_of_several_names_them_and_leaves_the_round_to_the_router() -> None:
    resolved = resolve("@Learner what should I read next?", council(*SHIPPED, DOCKER, PYTHON))
    assert resolved.chosen == set()
    assert resolved.notice() == (
        "@Learner could be The Learner (docker) or The Learner (python). The router chose who "
        "answers; type @ to pick a name from the list.")


def test_a_mention_of_no_one_says_so() -> None:
    resolved = resolve("@Lerner, @Lerner! what now?", council(*SHIPPED, DOCKER))
    assert resolved.chosen == set()
    assert resolved.notice() == ("@Lerner names no persona. The router chose who answers; type @ "
                                 "to pick a name from the list."), "once per mention"


def test_a_disabled_persona_is_not_asked_and_the_notice_says_why() -> None:
    personas = council(*SHIPPED, disabled=("Historian",))
    resolved = resolve("@Historian when was this built?", personas)
    assert resolved.chosen == set()
    assert resolved.notice().startswith(
        "@Historian names Historian, disabled on the Personas page.")


def test_clear_mentions_answer_beside_an_unclear_one() -> None:
    personas = council(*SHIPPED, DOCKER, PYTHON)
    resolved = resolve("@Skeptic and @Learner: is this safe?", personas)
    assert chosen("@Skeptic and @Learner: is this safe?", personas) == {"Skeptic"}
    assert resolved.notice() == ("@Learner could be The Learner (docker) or The Learner (python). "
                                 "Only the personas you named clearly answer.")


def test_code_and_addresses_are_not_mentions() -> None:
    personas = council(*SHIPPED)
    for question in ("Why does `@Skeptic` fail?", "```\n@Skeptic\ndef f(): ...\n```",
                     "mail skeptic@example.com"):
        assert resolve(question, personas).chosen == set(), question
        assert resolve(question, personas).notice() is None, question


def test_everyone_asks_every_enabled_persona() -> None:
    personas = council(*SHIPPED, disabled=("Historian",))
    assert chosen("@Everyone! tabs or spaces?", personas) == set(SHIPPED)


def add_learners(app: Flask) -> None:
    with session_scope(app) as session:
        for name in (DOCKER, PYTHON):
            create_persona(session, {"name": name, "system_prompt": f"You are {name}."})


def test_a_round_with_an_unclear_mention_runs_routed_and_carries_the_notice(
        app: Flask, sio: CouncilClient) -> None:
    add_learners(app)
    result = sio.ask("@Learner what should I learn first?")
    routing = result.one("round_started")["routing"]
    assert routing["chosen_by_user"] is False, "the router chose"
    assert routing["mention_notice"].startswith(
        "@Learner could be The Learner (docker) or The Learner (python).")
    assert result.one("round_done")["status"] == "done"
    stored = app.test_client().get(f"/api/conversations/{result.ack['conversation_id']}")
    assert stored.get_json()["rounds"][-1]["routing"]["mention_notice"] == \
        routing["mention_notice"], "a reload shows it too"

    clear = sio.ask("@TheLearner(docker) and @python: what next?", result.ack["conversation_id"])
    started = clear.one("round_started")
    assert {w["name"] for w in started["workers"]} == {DOCKER, PYTHON}
    assert started["routing"]["chosen_by_user"] is True
    assert started["routing"]["mention_notice"] is None
