"""What every built-in task shares: the item it makes, its seeds and splits, and filling a budget."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from ..metrics import exact_match

SPLITS = ("dev", "test")
TEST_SEED_OFFSET = 100_000  # test seeds are TEST_SEED_OFFSET + i, dev seeds are i (i < TEST_SEED_OFFSET)

# Characters per SmolLM2 token of each task's user message, measured over 20 seeds at 1k-4k tokens.
# Generation budget per task (SmolLM2 writes one digit per token and restates the question).
MAX_NEW_TOKENS = {"passkey": 16, "kv": 24, "mdqa": 24, "multikey": 40, "notes": 24}
CHARS_PER_TOKEN = {"passkey": 3.75, "kv": 3.75, "mdqa": 4.35, "multikey": 3.75, "notes": 4.55}


@dataclass(frozen=True)
class TaskItem:
    """One prompt of a built-in task. Spans are character offsets [start, end) into ``prompt``."""

    task: str
    split: str
    seed: int
    length: int  # target length in tokens (approximate, see the package docstring)
    prompt: str  # the user message
    question: str
    answer: str  # gold answer ("12345", "Ada Brenner", or "12345 67890" for multikey)
    answer_kind: str  # how exact_match compares: "number", "numbers" or "text"
    answer_spans: tuple[tuple[int, int], ...]  # where each part of the answer sits in the prompt
    depth: float  # relative position of the (first) answer in the context, 0..1

    @property
    def answer_span(self) -> tuple[int, int]:
        """The (first) answer's character span in ``prompt``, for highlighting."""
        return self.answer_spans[0]

    @property
    def messages(self) -> list[dict]:
        """The prompt as chat messages (one user turn)."""
        return [{"role": "user", "content": self.prompt}]

    @property
    def chat(self) -> bool:
        """Built-in tasks are asked as one user turn of the chat template."""
        return True

    @property
    def max_new_tokens(self) -> int:
        """Enough tokens for an instruct model's one-sentence answer ("The pass key is 12345.")."""
        return MAX_NEW_TOKENS[self.task]

    @property
    def uid(self) -> str:
        return f"{self.task}-{self.length}-{self.seed}"

    def score(self, prediction: str) -> float:
        """Normalized exact match, 1.0 or 0.0 (``metrics.exact_match``)."""
        return exact_match(prediction, self.answer, self.answer_kind)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["answer_spans"] = [list(s) for s in self.answer_spans]
        return d


def rng_for(task: str, length: int, seed: int) -> random.Random:
    """A private RNG per (task, length, seed): string seeds hash with SHA-512, stable across runs."""
    return random.Random(f"lazyllm-tasks:{task}:{length}:{seed}")


def split_seeds(split: str, n: int, start: int = 0) -> list[int]:
    """The first `n` seeds (from `start`) of a split; dev and test never share a seed."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if start < 0 or n < 0 or start + n > TEST_SEED_OFFSET:
        raise ValueError(
            f"n: seeds start..start+n must lie in [0, {TEST_SEED_OFFSET}] (one split), got start={start}, n={n}"
        )
    base = 0 if split == "dev" else TEST_SEED_OFFSET
    return [base + start + i for i in range(n)]


def seed_split(seed: int) -> str:
    """The split a seed belongs to."""
    return "dev" if seed < TEST_SEED_OFFSET else "test"


def parse_length(text: str) -> int:
    """ "2k" -> 2048, "1500" -> 1500."""
    text = text.strip().lower()
    try:
        return int(float(text[:-1]) * 1024) if text.endswith("k") else int(text)
    except ValueError:
        raise ValueError(f"length: expected a token count like 2048 or 2k, got {text!r}") from None


def char_budget(task: str, length: int, overhead: str) -> int:
    """Characters of context that bring the user message to ~`length` tokens."""
    return max(int(length * CHARS_PER_TOKEN[task]) - len(overhead), 200)


def fill(units: list[str], budget: int) -> list[str]:
    """The longest prefix of `units` whose total length stays within `budget` characters (>= 1 unit)."""
    out, used = [], 0
    for unit in units:
        if out and used + len(unit) > budget:
            break
        out.append(unit)
        used += len(unit)
    return out


def assemble(parts: list[str], needles: dict[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """Join parts into one string; return it with the span of each needle (a text inside a part)."""
    text, spans, pos = "", {}, 0
    for part in parts:
        for key, needle in needles.items():
            at = part.find(needle)
            if at >= 0 and key not in spans:
                spans[key] = (pos + at, pos + at + len(needle))
        text += part
        pos += len(part)
    return text, spans


def distinct_numbers(rng: random.Random, n: int, lo: int = 10_000, hi: int = 99_999) -> list[str]:
    """`n` distinct decimal numbers of the same width, none a repeat of a digit pattern."""
    return [str(v) for v in rng.sample(range(lo, hi + 1), n)]


def task_item(task, length, seed, prompt, question, answer, kind, spans, depth) -> TaskItem:
    """The item, once every part of the answer is checked to sit exactly once at its span."""
    for (start, end), part in zip(spans, answer.split() if kind == "numbers" else [answer], strict=True):
        if prompt[start:end] != part or prompt.count(part) != 1:
            raise RuntimeError(f"task {task} seed {seed}: answer {part!r} not placed exactly once")
    return TaskItem(task, seed_split(seed), seed, length, prompt, question, answer, kind, tuple(spans), depth)
