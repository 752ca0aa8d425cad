"""Chat exports for discovery tests: the real ChatGPT exports in shared/fixtures, and a small
ShareGPT export written on demand whose three topics a clustering must tell apart."""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve()
_CANDIDATES = [
    _HERE.parents[2] / "shared" / "fixtures" / "chatgpt-exports",
    _HERE.parents[1] / "shared" / "fixtures" / "chatgpt-exports",
]
FIXTURES = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
PKUPPENS = FIXTURES / "chatgpt_pkuppens_2023_conversations.json"
REALAZTHAT = FIXTURES / "chatgpt_realazthat_code_interpreter_conversations.json"
IMAGE_GEN = FIXTURES / "chatgpt_pionxzh_image-generation.json"
THINKING = FIXTURES / "chatgpt_pionxzh_thinking-summaries.json"

# 7 variants x 3 templates per topic: 21 user messages each, 63 in all.
GROUPS = {
    "python": ["Why does my Python script raise KeyError on line {n}?",
               "How do I fix this pandas merge error in step {n}?",
               "My Python function returns None instead of a list in test {n}, why?"],
    "cooking": ["What can I cook for dinner with lentils and spinach, idea {n}?",
                "How long should I bake a sourdough loaf at {n}0 degrees?",
                "Give me a vegetarian recipe for {n} people with chickpeas."],
    "marketing": ["Write a marketing plan for launching our app to {n}00 customers.",
                  "How should we price our SaaS product for {n} tiers?",
                  "Draft a sales email to win back {n} churned clients."],
}


def write_sharegpt_export(path: Path) -> None:
    conversations = []
    for group, templates in GROUPS.items():
        for n in range(1, 8):
            for i, template in enumerate(templates):
                conversations.append({"id": f"{group}-{n}-{i}", "conversations": [
                    {"from": "human", "value": template.format(n=n)},
                    {"from": "gpt", "value": "Here is an answer."}]})
    path.write_text(json.dumps(conversations), encoding="utf-8")
