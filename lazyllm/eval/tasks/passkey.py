"""``passkey``: a 5-digit pass key hidden once in repeated filler text (LongLoRA / RULER style)."""

from __future__ import annotations

from .base import TaskItem, assemble, char_budget, distinct_numbers, fill, rng_for, task_item
from .words import FILLER

PASSKEY_HEAD = (
    "There is an important piece of information hidden inside a lot of irrelevant text. "
    "Find it and memorize it. I will quiz you about it.\n\n"
)
PASSKEY_QUESTION = "What is the pass key? Answer with the number only."


def make_passkey(length: int, seed: int) -> TaskItem:
    """A 5-digit pass key in repeated filler, at a depth drawn from [0.05, 0.95]."""
    rng = rng_for("passkey", length, seed)
    key = distinct_numbers(rng, 1)[0]
    needle = f"The pass key is {key}. Remember it. "
    question = f"\n\n{PASSKEY_QUESTION}"
    n = len(fill([FILLER] * 2000, char_budget("passkey", length, PASSKEY_HEAD + needle + question)))
    at = round(rng.uniform(0.05, 0.95) * n)
    parts = [PASSKEY_HEAD, *[FILLER] * at, needle, *[FILLER] * (n - at), question]
    prompt, spans = assemble(parts, {"key": key})
    return task_item("passkey", length, seed, prompt, PASSKEY_QUESTION, key, "number", [spans["key"]], at / n)
