"""``multikey``: two pass keys (of two named doors) hidden at two depths; both must be returned."""

from __future__ import annotations

from .base import TaskItem, assemble, char_budget, distinct_numbers, fill, rng_for, task_item
from .words import DOOR_COLORS, FILLER


def make_multikey(length: int, seed: int) -> TaskItem:
    """Two doors' pass keys at two depths; the answer is both keys, in the order asked."""
    rng = rng_for("multikey", length, seed)
    colors, keys = rng.sample(DOOR_COLORS, 2), distinct_numbers(rng, 2)
    needles = [f"The pass key of the {c} door is {k}. " for c, k in zip(colors, keys, strict=True)]
    question = f"What are the pass keys of the {colors[0]} door and of the {colors[1]} door?"
    head = (
        "Two pass keys are hidden inside a lot of irrelevant text. "
        f"Read the text and answer the question: {question}\n\n"
    )
    tail = f"\n\n{question} Answer with the two numbers only."
    n = max(len(fill([FILLER] * 4000, char_budget("multikey", length, head + "".join(needles) + tail))), 3)
    at = sorted(rng.sample(range(1, n), 2))
    order = [0, 1] if rng.random() < 0.5 else [1, 0]  # which needle comes first in the text
    body = [*[FILLER] * at[0], needles[order[0]], *[FILLER] * (at[1] - at[0]), needles[order[1]]]
    prompt, spans = assemble([head, *body, *[FILLER] * (n - at[1]), tail], {"a": needles[0], "b": needles[1]})
    kspans = [(spans[x][1] - 2 - len(k), spans[x][1] - 2) for x, k in zip("ab", keys, strict=True)]
    depth = at[order.index(0)] / n
    return task_item("multikey", length, seed, prompt, question, " ".join(keys), "numbers", kspans, depth)
