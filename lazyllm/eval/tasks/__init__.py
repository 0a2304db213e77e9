"""Built-in long-context tasks, generated deterministically from a seed (docs/results/README.md).

Five tasks, each a question at the end of a long context (so the last token, whose attention drives
LazyLLM's importance scores, §3.2, is part of the question); one module each:

- ``passkey``:  a 5-digit pass key hidden once in repeated filler text (LongLoRA / RULER style).
- ``kv``:       find the secret number of one of eight objects hidden in filler text.
- ``mdqa``:     multi-document QA over short documents about invented towns written for the project;
                exactly one document holds the answer (the town's founder).
- ``multikey``: two pass keys (of two named doors) hidden at two depths; both must be returned.
- ``notes``:    one fact ("The locker code of the boathouse is 43125.") among varied notes about a
                harbour, a workshop and a garden; the question only at the end.

Lengths are **approximate** token counts of the user message: each task fills its context up to
``length * CHARS_PER_TOKEN[task]`` characters, ratios measured with the embedded SmolLM2 tokenizer,
so the same seed gives the same text for every model (the bench records real token counts).
A seed, a task and a length determine a ``TaskItem``; ``dev`` and ``test`` seeds are disjoint.
The shared parts (``TaskItem``, seeds, filling a budget) are in ``base``, the word lists in ``words``.
"""

from __future__ import annotations

from .base import (
    CHARS_PER_TOKEN,
    MAX_NEW_TOKENS,
    SPLITS,
    TEST_SEED_OFFSET,
    TaskItem,
    parse_length,
    seed_split,
    split_seeds,
)
from .kv import make_kv
from .mdqa import make_mdqa
from .multikey import make_multikey
from .notes import make_notes
from .passkey import make_passkey

TASKS = {
    "passkey": make_passkey,
    "kv": make_kv,
    "mdqa": make_mdqa,
    "multikey": make_multikey,
    "notes": make_notes,
}

__all__ = [
    "CHARS_PER_TOKEN",
    "MAX_NEW_TOKENS",
    "SPLITS",
    "TASKS",
    "TEST_SEED_OFFSET",
    "TaskItem",
    "make_example",
    "make_examples",
    "parse_length",
    "seed_split",
    "split_seeds",
]


def make_example(task: str, length: int, seed: int) -> TaskItem:
    """The item of `task` at ~`length` tokens for `seed` (its split follows from the seed)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if not isinstance(length, int) or not 64 <= length <= 131_072:
        raise ValueError(f"length must be an integer number of tokens in [64, 131072], got {length!r}")
    return TASKS[task](length, seed)


def make_examples(task: str, length: int, n: int, split: str = "dev", start: int = 0) -> list[TaskItem]:
    """`n` items of one task and length from a split."""
    return [make_example(task, length, s) for s in split_seeds(split, n, start)]
