"""``notes``: one fact ("The locker code of the boathouse is 43125.") among varied notes about a
harbour, a workshop and a garden; the question only at the end."""

from __future__ import annotations

import random

from .base import TaskItem, assemble, char_budget, distinct_numbers, fill, rng_for, task_item
from .words import NOTE_CODES, NOTE_SETTINGS, NOTE_THINGS, NOTE_TIMES

NOTES_HEAD = "Here are some notes from a small town. Read them carefully.\n\n"


def note_paragraph(rng: random.Random) -> str:
    """One paragraph of notes: a heading and four to six sentences about one setting."""
    setting = rng.choice(list(NOTE_SETTINGS))
    subjects, actions = NOTE_SETTINGS[setting]
    sentences = [
        f"{rng.choice(subjects)} {action} {rng.choice(NOTE_TIMES)}."
        for action in rng.sample(actions, rng.randint(4, 6))
    ]
    return f"Notes on the {setting}: " + " ".join(sentences) + "\n\n"


def make_notes(length: int, seed: int) -> TaskItem:
    """One fact ("The locker code of the boathouse is 43125.") among varied notes; the question only
    at the end (the harder, plainer form: no query-aware context)."""
    rng = rng_for("notes", length, seed)
    thing, code, value = rng.choice(NOTE_THINGS), rng.choice(NOTE_CODES), distinct_numbers(rng, 1)[0]
    fact = f"The {code} of the {thing} is {value}.\n\n"
    question = f"What is the {code} of the {thing}?"
    tail = f"{question} Answer with the number only."
    paragraphs = [note_paragraph(rng) for _ in range(400)]
    paragraphs = fill(paragraphs, char_budget("notes", length, NOTES_HEAD + fact + tail))
    at = round(rng.uniform(0.05, 0.95) * len(paragraphs))
    parts = [NOTES_HEAD, *paragraphs[:at], fact, *paragraphs[at:], tail]
    prompt, spans = assemble(parts, {"fact": fact})
    start = spans["fact"][0] + fact.index(value)
    depth = at / len(paragraphs)
    return task_item("notes", length, seed, prompt, question, value, "number", [(start, start + 5)], depth)
