"""A ShareGPT export written in Dutch, German, French and English at once: four ways of asking
(debugging, deciding, what-if, rewriting) in each language, with the stop words a naive namer
would pick up ("een", "und", "les", "the") and a pasted snippet of HTML and Python."""

from __future__ import annotations

import json
from pathlib import Path

SUBJECTS = {
    "en": ["my Flask app", "the invoice script", "our garden irrigation timer", "the backup job"],
    "nl": ["mijn Flask app", "het factuurscript", "de besproeiing van de tuin", "de back-up"],
    "de": ["meine Flask-App", "das Rechnungsskript", "die Gartenbewässerung", "das Backup"],
    "fr": ["mon application Flask", "le script de factures", "l'arrosage du jardin",
           "la sauvegarde"],
}
TEMPLATES = {
    "en": ["Why does {s} crash with an error every time I start it, and how do I fix it?",
           "Should I rewrite {s} from scratch or keep patching it? What are the pros and cons?",
           "What if {s} ran on a small solar-powered board instead? Imagine how that would work.",
           "Please rewrite this email about {s} so it sounds friendly and clear for the team."],
    "nl": ["Waarom crasht {s} met een foutmelding als ik het start, en hoe los ik dat op?",
           "Moet ik {s} helemaal opnieuw schrijven of blijven repareren? Wat zijn de voor- en "
           "nadelen?",
           "Wat als {s} op een klein bordje op zonne-energie zou draaien? Stel dat het kan.",
           "Herschrijf deze mail over {s} zodat het vriendelijk en duidelijk is voor het team."],
    "de": ["Warum stürzt {s} mit einem Fehler ab, wenn ich es starte, und wie behebe ich das?",
           "Soll ich {s} komplett neu schreiben oder weiter flicken? Was sind die Vor- und "
           "Nachteile?",
           "Was wäre wenn {s} auf einer kleinen Solarplatine laufen würde? Stell dir vor, wie "
           "das geht.",
           "Bitte schreib diese E-Mail über {s} um, damit sie freundlich und klar für das Team "
           "ist."],
    "fr": ["Pourquoi {s} plante avec une erreur à chaque démarrage, et comment je le répare ?",
           "Dois-je réécrire {s} depuis le début ou continuer à le corriger ? Quels sont les "
           "avantages et les inconvénients ?",
           "Et si {s} tournait sur une petite carte solaire ? Imagine comment cela marcherait.",
           "Réécris ce mail sur {s} pour qu'il soit aimable et clair pour l'équipe, s'il te "
           "plaît."],
}
MODES = ("debugging", "deciding", "exploring", "writing")
PASTES = ('\n\n<div class="row"><span>Total</span></div>',
          "\n\n```python\ndef total(items):\n    return sum(i.price for i in items)\n```")
LANGUAGES = tuple(TEMPLATES)


def multilingual_messages() -> list[tuple[str, str, str]]:
    """(language, mode, text) for every message; every eighth carries a pasted snippet."""
    messages = []
    for language, templates in TEMPLATES.items():
        for mode, template in zip(MODES, templates, strict=True):
            for i, subject in enumerate(SUBJECTS[language]):
                text = template.format(s=subject)
                if (i + len(messages)) % 8 == 0:
                    text += PASTES[len(messages) % 2]
                messages.append((language, mode, text))
    return messages


def write_multilingual_export(path: Path) -> None:
    conversations = [{"id": f"{language}-{mode}-{n}", "conversations": [
        {"from": "human", "value": text}, {"from": "gpt", "value": "Here is an answer."}]}
        for n, (language, mode, text) in enumerate(multilingual_messages())]
    path.write_text(json.dumps(conversations, ensure_ascii=False), encoding="utf-8")
