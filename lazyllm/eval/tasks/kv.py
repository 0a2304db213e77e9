"""``kv``: key-value retrieval, the secret number of one of eight objects hidden in filler text."""

from __future__ import annotations

from .base import TaskItem, assemble, char_budget, distinct_numbers, fill, rng_for, task_item
from .words import FILLER, KV_OBJECTS

KV_KEYS = 8


def make_kv(length: int, seed: int) -> TaskItem:
    """Key-value retrieval: eight "The secret number of the <key> is <value>." facts in filler.

    The question comes first and last (query-aware context): a 135M model retrieves the right
    value far more often when the key is named before the facts (see docs/results/README.md).
    """
    rng = rng_for("kv", length, seed)
    keys, values = rng.sample(KV_OBJECTS, KV_KEYS), distinct_numbers(rng, KV_KEYS)
    target = rng.randrange(KV_KEYS)
    question = f"What is the secret number of the {keys[target]}?"
    head = (
        "Some secret numbers are hidden inside a lot of irrelevant text. "
        f"Read the text and answer the question: {question}\n\n"
    )
    tail = f"\n\n{question} Answer with the number only."
    needles = [f"The secret number of the {k} is {v}. " for k, v in zip(keys, values, strict=True)]
    n = len(fill([FILLER] * 4000, char_budget("kv", length, head + "".join(needles) + tail)))
    positions = sorted(rng.randint(0, n) for _ in range(KV_KEYS))
    body = [FILLER] * n
    for i, (at, needle) in enumerate(zip(positions, needles, strict=True)):
        body.insert(at + i, needle)
    prompt, spans = assemble([head, *body, tail], {"value": needles[target]})
    end = spans["value"][1] - 2
    span = (end - len(values[target]), end)
    return task_item(
        "kv", length, seed, prompt, question, values[target], "number", [span], positions[target] / n
    )
