"""A labelled set of messages whose *mode* is known, with topic and mode crossed.

Discovery should find ways of working (the Debugger, the Architect, the Explorer, ...), not
only subjects. To measure that, every message here is written from a mode template filled with
one topic's words, so each of the MODES appears in each of the TOPICS and neither label
predicts the other: a clustering that follows topics scores near 0 adjusted Rand against the
mode labels, one that follows modes near 1.

    debugging     something does not work and the user wants to know why
    architecture  how to structure or organise something that should last
    exploring     what-if questions and speculation
    quick_fix     a deadline and a request for the shortest working answer
    learning      wanting to understand how something works

The wording varies on purpose: several openings per mode, each topic's own objects and
symptoms, optional greetings, context and sign-offs, and some messages lower-cased, so that
no single phrase marks a mode. Deterministic for a seed.

    .venv/bin/python -m bench.modes_data [--per-cell 10] [--seed 0]   # prints a sample
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

MODES = ("debugging", "architecture", "exploring", "quick_fix", "learning")

# Per topic: sentences of detail any message about it may carry (real messages are mostly
# about their subject, so these make the topic what an embedding sees first), a thing the user
# works on, what goes wrong with it, what they tried, the larger whole they want to organise,
# a speculative change, a small task, and a concept.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "web_backend": {
        "detail": (
            "It's a Flask app with SQLAlchemy and Postgres, deployed with Docker behind nginx.",
            "The endpoint reads the user's orders and joins them with the products table.",
            "We use gunicorn with four workers and Redis for sessions.",
            "Authentication is JWT based and the tokens expire after an hour.",
            "The API serves a React frontend and a mobile app, about 200 requests per second.",
            "Our models are in models.py, the routes in views.py and the config in settings.py.",
            "Background jobs run in Celery and write to the same database.",
            "The staging server runs Ubuntu 22.04 with Python 3.11.",
        ),
        "thing": ("my Flask API", "the login endpoint", "our Django app", "the checkout service",
                  "my Node server"),
        "symptom": ("returns a 500 error on every POST", "times out after thirty seconds",
                    "logs users out at random", "crashes when two requests arrive at once",
                    "sends the wrong JSON back"),
        "tried": ("restarting the server", "clearing the cache", "adding more logging",
                  "rolling back yesterday's commit"),
        "whole": ("the backend of a multi-tenant SaaS", "the modules of a growing Flask project",
                  "authentication across three services", "the database layer of our API"),
        "idea": ("we moved every endpoint to websockets", ("the whole backend ran on serverless "
                 "functions"), "we dropped the database and kept everything in Redis",
                 "each customer got their own server"),
        "task": ("a health check endpoint", "rate limiting on the login route",
                 "a CSV export of the orders table", "basic auth on the admin page"),
        "concept": ("how database connection pooling works", "what a reverse proxy does",
                    "how JWT tokens are verified", "how async request handling works"),
    },
    "data_analysis": {
        "detail": (
            "The data is a 2 GB CSV of orders with customer_id, region, amount and order_date.",
            "I load it with pandas, merge it with the customers table and group by region.",
            "The model is a scikit-learn pipeline: a StandardScaler and a logistic regression.",
            "About 30% of the rows have a missing value in the income column.",
            "The dashboard is built in Plotly and refreshes from a Postgres view.",
            "We have three years of weekly sales for 40 stores.",
            "The features are age, tenure, monthly spend and the number of support tickets.",
            "Everything runs in a Jupyter notebook on my laptop with 16 GB of RAM.",
        ),
        "thing": ("my pandas notebook", "the sales dashboard", "my regression model",
                  "the nightly ETL job", "the clustering script"),
        "symptom": ("gives NaN for half the rows", "shows last month's numbers twice",
                    "predicts the same value for everyone", "runs out of memory halfway",
                    "drops every row after the merge"),
        "tried": ("re-reading the CSV", "resetting the index", "checking the column types",
                  "running it on a smaller sample"),
        "whole": ("a reporting pipeline for five departments", "our team's analysis notebooks",
                  "a feature store for several models", "the data warehouse tables"),
        "idea": ("we trained one model per customer", ("all our reports were generated by an "
                 "LLM"), "we replaced the warehouse with plain parquet files",
                 "the dashboard updated every second"),
        "task": ("a bar chart of revenue by month", "a pivot table of orders per region",
                 "a quick average per group", "a filter for last week's rows"),
        "concept": ("how cross-validation works", "what a p-value really means",
                    "how gradient boosting builds trees", "what regularisation does"),
    },
    "baking": {
        "detail": (
            "I use 500 g of bread flour, 350 g of water, 10 g of salt and 100 g of starter.",
            "My oven is a small electric one and runs a bit hot.",
            "The recipe says to cream the butter and sugar, then fold in the flour.",
            "I knead the dough for ten minutes and let it rise at room temperature.",
            "I bake in a cast iron Dutch oven at 230 degrees.",
            "The kitchen is quite cold in winter, around 17 degrees.",
            "I use unsalted butter, free-range eggs and plain flour.",
            "The starter is fed twice a day with rye flour.",
        ),
        "thing": ("my sourdough", "the sponge cake", "my pizza dough", "these cookies",
                  "my croissants"),
        "symptom": ("comes out flat and dense", "sinks in the middle", ("tears when I stretch "
                    "it"), "spreads into one big sheet", "burns on the bottom"),
        "tried": ("a new bag of flour", "a longer proof", "lowering the oven temperature",
                  "weighing everything twice"),
        "whole": ("a week of baking for a market stall", "a menu for a small bakery",
                  "my weekly bread routine", "a three-tier wedding cake order"),
        "idea": ("I baked bread with no yeast at all", "I replaced all the butter with olive oil",
                 "I proofed the dough in the fridge for a week", ("cakes were baked at high "
                 "altitude")),
        "task": ("a frosting for twelve cupcakes", "a substitute for eggs in brownies",
                 "a dough I can make in an hour", "a glaze for tonight's lemon cake"),
        "concept": ("how gluten develops", "what baking soda does to a batter",
                    "how a sourdough starter ferments", "why butter temperature matters"),
    },
    "personal_finance": {
        "detail": (
            "I earn 3,200 euros a month after tax and rent is 1,100.",
            "We have a joint account for bills and separate accounts for everything else.",
            "There is about 4,000 euros left on my credit card at 19% interest.",
            "I put 200 euros a month into a savings account at 2%.",
            "My partner is self-employed, so her income changes from month to month.",
            "Groceries, insurance and the car loan take most of the rest.",
            "I track everything in a Google Sheets spreadsheet with a tab per month.",
            "We'd like to buy a house in about five years.",
        ),
        "thing": ("my budget spreadsheet", "my savings plan", ("the shared account with my "
                  "partner"), "my tax return", "my credit card payoff plan"),
        "symptom": ("is short every month", "shows money I don't have",
                    "comes up short at the end of the month", "gets rejected by the tax office",
                    "keeps growing instead of shrinking"),
        "tried": ("tracking every expense", "cancelling two subscriptions",
                  "moving bills to payday", "a budgeting app"),
        "whole": ("our household finances for the next ten years", ("my accounts and savings "
                  "pots"), "retirement savings across three pensions",
                  "money for a family of five"),
        "idea": ("I stopped using cash and cards entirely", ("we lived on one salary and saved "
                 "the other"), "I put all my savings into index funds",
                 "rent doubled next year"),
        "task": ("a monthly budget for 2,000 euros", "a payment plan for this bill",
                 "a savings target for a holiday", "a split of the rent with my roommate"),
        "concept": ("how compound interest works", "what an index fund is",
                    "how income tax brackets work", "what a credit score measures"),
    },
    "fiction_writing": {
        "detail": (
            "It's a fantasy novel of about 90,000 words, told in third person past tense.",
            "The protagonist is a young cartographer who discovers the maps are lying.",
            "The second act follows two characters travelling through the northern mountains.",
            "There are three point-of-view characters and the chapters alternate between them.",
            "My writing group meets every two weeks and reads a chapter at a time.",
            "The book opens with a storm at sea and a shipwreck.",
            "The villain is the protagonist's older sister, revealed halfway through.",
            "I write in Scrivener and have about forty scenes planned.",
        ),
        "thing": ("my novel's second act", "the opening chapter", "my short story",
                  "the dialogue in chapter three", "my fantasy manuscript"),
        "symptom": ("feels flat and boring", "loses readers after two pages",
                    "drags on for far too long", "sounds stiff and unnatural",
                    "confuses my beta readers"),
        "tried": ("cutting whole scenes", "rewriting it in first person",
                  "reading it aloud", "adding more action"),
        "whole": ("a trilogy with four point-of-view characters", "the chapters of my novel",
                  "a fantasy world's history and magic", "a mystery with three timelines"),
        "idea": ("the villain narrated the whole book", "the story were told backwards",
                 "my hero lost in the final chapter", "the novel were written as letters"),
        "task": ("a title for my short story", "a one-line pitch for my novel",
                 "a blurb for the back cover", "a name for my main character"),
        "concept": ("how foreshadowing works", "what a character arc is",
                    "how pacing is controlled", "what an unreliable narrator is"),
    },
    "gardening": {
        "detail": (
            "I live in a temperate climate with clay soil and a lot of rain in spring.",
            "The beds get about six hours of sun and I water them in the morning.",
            "I planted tomatoes, courgettes, lettuce and beans this year.",
            "The soil is mixed with compost from my own heap.",
            "The garden faces south and is sheltered by a brick wall.",
            "I mostly grow from seed, started indoors in March.",
            "Slugs have been a problem every summer.",
            "I use a drip irrigation line on a timer.",
        ),
        "thing": ("my tomato plant", "the lawn", "my basil", "the apple tree",
                  "my rose bush"),
        "symptom": ("turns yellow and wilts", "has brown patches everywhere",
                    "dies within a week", "refuses to flower", "is covered in aphids"),
        "tried": ("watering less", "new compost", "moving them into the sun",
                  "an organic spray"),
        "whole": ("a vegetable garden for a whole year", "the layout of my backyard",
                  "crop rotation over four beds", "an allotment shared by six families"),
        "idea": ("I grew everything hydroponically", "we replaced the lawn with wildflowers",
                 "I only planted native species", "the garden had no watering at all"),
        "task": ("something green in a pot for Saturday's party", "a fix for the wilting basil",
                 "a plant for a dark balcony", "a fertiliser I can buy today"),
        "concept": ("how photosynthesis works", "what soil pH does to plants",
                    "how composting works", "why crop rotation matters"),
    },
}

# Each mode's templates; {slots} come from the topic.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "debugging": (
        "{thing} {symptom} and I can't figure out why.",
        "I tried {tried} but {thing} still {symptom}. What am I missing?",
        "Why does {thing} {symptom_bare}? It worked fine last week.",
        "Something is wrong: {thing} {symptom}. Where should I start looking?",
        "{thing} {symptom}, even after {tried}. What could be causing it?",
        "It's not working. {thing} {symptom} and nothing I change makes a difference.",
        "I keep running into the same problem: {thing} {symptom}. Any idea what's broken?",
    ),
    "architecture": (
        "How should I structure {whole} so it still makes sense in a few years?",
        "What's a good way to organise {whole}? I want it to stay maintainable as it grows.",
        "I'm planning {whole}. How would you lay it out, and what are the trade-offs?",
        ("Before I start on {whole}: how do I split it into parts that don't depend on each "
        "other too much?"),
        "What would a clean design for {whole} look like, compared with what most people do?",
        ("I need to decide how to organise {whole}. Which structure scales better in the long "
        "run?"),
    ),
    "exploring": (
        "What if {idea}? I wonder what would change.",
        "Just curious: what would happen if {idea}?",
        "Imagine {idea}. What would be the interesting consequences?",
        "Random thought: suppose {idea}. Would that even work?",
        "I've been wondering what it would look like if {idea}.",
        "Hypothetically, if {idea}, what do you think would happen?",
    ),
    "quick_fix": (
        "Quick one, I need {task} by tonight. Just give me something that works.",
        "No time to explain, deadline is Friday: give me {task}.",
        "Need {task} asap, nothing fancy.",
        "can you just give me {task}? in a hurry",
        "Short answer please: {task}, due in an hour.",
        "Deadline tomorrow morning. Fastest way to get {task}?",
        "Just write me {task}, I'll polish it later.",
    ),
    "learning": (
        "Can you explain {concept}? I've never really understood it.",
        "I'm trying to learn {concept}. Could you walk me through it step by step?",
        "Explain {concept} like I'm a beginner, with an example.",
        "I'd like to understand {concept} properly, not just use it.",
        "Teach me {concept}, starting from the basics.",
        "I keep reading about this but don't get it: {concept}. Can you explain it simply?",
    ),
}

IRREGULAR = {"is": "be", "has": "have", "does": "do", "dies": "die"}
GREETINGS = ("", "", "", "Hi! ", "Hey, ", "Hello. ")
CONTEXT = ("", "", "", "This is for a side project. ", "I've been at this all week. ",
           "My friend suggested I ask you. ")
SIGN_OFFS = ("", "", "", " Thanks!", " Thanks in advance.", " Appreciate it.")


@dataclass(frozen=True)
class ModeMessage:
    """One message of the set and the mode and topic it was written from."""

    text: str
    mode: str
    topic: str


def _bare(symptom: str) -> str:
    """"returns a 500 error" -> "return a 500 error", for "why does X ...": the third-person
    s dropped from the first verb and from one after "and"."""
    def verb(word: str) -> str:
        if word in IRREGULAR:
            return IRREGULAR[word]
        return word[:-2] if word.endswith(("shes", "ches", "sses")) else word.removesuffix("s")

    words = symptom.split(" ")
    return " ".join(verb(w) if i == 0 or words[i - 1] == "and" else w
                    for i, w in enumerate(words))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def mode_messages(per_cell: int = 10, seed: int = 0) -> list[ModeMessage]:
    """`per_cell` distinct messages for every (mode, topic) pair, in a shuffled order."""
    rng = random.Random(seed)
    messages: list[ModeMessage] = []
    for mode in MODES:
        for topic, words in TOPICS.items():
            seen: set[str] = set()
            while len(seen) < per_cell:
                slots = {name: rng.choice(values) for name, values in words.items()}
                slots["symptom_bare"] = _bare(slots["symptom"])
                body = _capitalised(rng.choice(TEMPLATES[mode]).format(**slots))
                details = rng.sample(words["detail"], rng.choice((1, 2, 2, 3)))
                before = rng.randint(0, len(details))
                body = " ".join([*details[:before], body, *details[before:]])
                text = rng.choice(GREETINGS) + rng.choice(CONTEXT) + body + rng.choice(SIGN_OFFS)
                if rng.random() < 0.2:
                    text = text.lower()
                if text not in seen:
                    seen.add(text)
                    messages.append(ModeMessage(text, mode, topic))
    rng.shuffle(messages)
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    messages = mode_messages(args.per_cell, args.seed)
    print(f"{len(messages)} messages: {len(MODES)} modes x {len(TOPICS)} topics")
    for message in messages[:15]:
        print(f"{message.mode:13} {message.topic:17} {message.text}")


if __name__ == "__main__":
    main()
