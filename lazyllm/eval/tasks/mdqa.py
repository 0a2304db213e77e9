"""``mdqa``: multi-document QA over short documents about invented towns written for the project;
exactly one document holds the answer (the town's founder)."""

from __future__ import annotations

import random

from .base import TaskItem, assemble, char_budget, fill, rng_for, task_item
from .words import FIRST_NAMES, GEOGRAPHY, LAST_NAMES, TOWN_LINES, TOWNS

MDQA_QUESTION = "Who founded the town of {town}?"


def town_names(rng: random.Random, n: int) -> list[str]:
    """`n` distinct town names (English-sounding; the towns and their facts are invented)."""
    return rng.sample(TOWNS, n)


def person_names(rng: random.Random, n: int) -> list[str]:
    """`n` distinct "First Last" names with distinct last names."""
    lasts = rng.sample(LAST_NAMES, n)
    return [f"{rng.choice(FIRST_NAMES)} {last}" for last in lasts]


def town_document(i: int, town: str, founder: str, year: str, rng: random.Random) -> str:
    """One short document about an invented town: who founded it and when, then neutral sentences."""
    extra = " ".join(rng.sample(TOWN_LINES, 8))
    return (
        f"Document {i} ({town}): {town} was founded by {founder} in {year}. {town} is a small town on the "
        f"{rng.choice(GEOGRAPHY)}. {extra}\n\n"
    )


def make_mdqa(length: int, seed: int) -> TaskItem:
    """Multi-document QA: the question asks who founded one town; one document holds the answer.

    Every document holds the same kinds of facts about another town, so only the one about the
    asked town answers. The question comes first and last, as in ``make_kv``.
    """
    rng = rng_for("mdqa", length, seed)
    n = len(LAST_NAMES)
    towns, founders = town_names(rng, n), person_names(rng, n)
    years = [str(y) for y in rng.sample(range(1105, 1899), n)]
    docs = [
        town_document(i + 1, *fact, rng) for i, fact in enumerate(zip(towns, founders, years, strict=True))
    ]
    head = "Answer the question based on the given documents: {}\n\n"
    tail = "Question: {} Answer with the name only."
    probe = MDQA_QUESTION.format(town=towns[0])
    docs = fill(docs, char_budget("mdqa", length, head.format(probe) + tail.format(probe)))
    target = rng.randrange(len(docs))
    question = MDQA_QUESTION.format(town=towns[target])
    parts = [head.format(question), *docs, tail.format(question)]
    prompt, spans = assemble(parts, {"doc": docs[target]})
    start = spans["doc"][0] + docs[target].index(founders[target])
    span = (start, start + len(founders[target]))
    return task_item(
        "mdqa", length, seed, prompt, question, founders[target], "text", [span], target / len(docs)
    )
