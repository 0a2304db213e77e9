"""Built-in long-context tasks, generated deterministically from a seed (README, "Accuracy vs TTFT").

Five tasks, each a question at the end of a long context (so the last token, whose attention drives
LazyLLM's importance scores, §3.2, is part of the question):

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
A seed, a task and a length determine an example; ``dev`` and ``test`` seeds are disjoint.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from .metrics import exact_match

SPLITS = ("dev", "test")
TEST_SEED_OFFSET = 100_000  # test seeds are TEST_SEED_OFFSET + i, dev seeds are i (i < TEST_SEED_OFFSET)

# Characters per SmolLM2 token of each task's user message, measured over 20 seeds at 1k-4k tokens.
# Generation budget per task (SmolLM2 writes one digit per token and restates the question).
MAX_NEW_TOKENS = {"passkey": 16, "kv": 24, "mdqa": 24, "multikey": 40, "notes": 24}
CHARS_PER_TOKEN = {"passkey": 3.75, "kv": 3.75, "mdqa": 4.35, "multikey": 3.75, "notes": 4.55}


@dataclass(frozen=True)
class Example:
    """One prompt of a built-in task. Spans are character offsets [start, end) into ``prompt``."""

    task: str
    split: str
    seed: int
    length: int  # target length in tokens (approximate, see module docstring)
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


# ---- word banks ---------------------------------------------------------------------------------

FIRST_NAMES = (
    "Ada Bruno Clara Dmitri Elena Felix Greta Hugo Ines Jonas Karin Lukas Mara Nils Olga Pavel Rosa "
    "Stefan Tilda Ugo Vera Walter Yara Zeno Amos Beatrix Cyril Dora Emil Flora Gideon Hedda Ivo Juno"
).split()
LAST_NAMES = (
    "Brenner Castell Dorn Eckart Falk Gruber Hollis Ivers Jansen Kessler Lind Moreau Norberg Ostrom "
    "Pellan Quist Rainer Sorel Thaler Ulmer Vance Wendt Yates Zorn Abbott Bramley Corwin Draper Ellery "
    "Fenwick Garrow Hadley Ingram Jessop Kimber Larkin Mercer Nyland Oakes Prentice Radley Selwyn Tolliver "
    "Underhill Varga Whitlock Ashdown Blakely Carrow Dunwell Elstrom Farrel Gaskell Harlow Iverson Kestrel"
).split()
TOWNS = (
    "Greenfield Oakridge Milford Ashton Brookvale Clayton Fairview Glenwood Hillcrest Kingsley Lakeside "
    "Marlow Northam Pinehurst Redford Silverton Thornbury Upton Westbrook Yarmouth Aldridge Bexley Cromer "
    "Dalton Elmstead Foxley Gransden Hawkhurst Ivybridge Jarrow Kelso Lydford Moffat Newbury Oundle Penrith "
    "Quarrydale Rothbury Sedbergh Tetbury Ulverston Ventnor Wetherby Axbridge Bampton Chudleigh Dunster "
    "Evesham Frome Girvan Helmsley Ilkley Keswick Ledbury Malton Nairn Otley Pickering Ripley Settle"
).split()
DOOR_COLORS = "red blue green yellow white black orange purple silver golden".split()

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
TOWN_LINES = (
    "The streets are narrow and paved with old stones.",
    "A weekly market fills the main square with traders.",
    "Visitors often arrive by the morning ferry.",
    "The winters there are long and the summers are short.",
    "Most houses have red roofs and small gardens.",
    "A stone bridge crosses the river near the old mill.",
    "The local school teaches children from three villages.",
    "Fishermen sell their catch at the harbor every evening.",
    "An old chapel stands on the hill above the town.",
    "The library keeps maps that are several centuries old.",
    "The town council meets on the first day of each month.",
    "Travellers praise the quiet inns and the friendly people.",
)
GEOGRAPHY = (
    "northern coast",
    "southern plain",
    "eastern hills",
    "western lakes",
    "high plateau",
    "river delta",
    "forest edge",
    "mountain pass",
)


# ---- helpers ------------------------------------------------------------------------------------


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


def town_names(rng: random.Random, n: int) -> list[str]:
    """`n` distinct town names (English-sounding; the towns and their facts are invented)."""
    return rng.sample(TOWNS, n)


def person_names(rng: random.Random, n: int) -> list[str]:
    """`n` distinct "First Last" names with distinct last names."""
    lasts = rng.sample(LAST_NAMES, n)
    return [f"{rng.choice(FIRST_NAMES)} {last}" for last in lasts]


def _example(task, length, seed, prompt, question, answer, kind, spans, depth) -> Example:
    for (start, end), part in zip(spans, answer.split() if kind == "numbers" else [answer], strict=True):
        if prompt[start:end] != part or prompt.count(part) != 1:
            raise RuntimeError(f"task {task} seed {seed}: answer {part!r} not placed exactly once")
    return Example(task, seed_split(seed), seed, length, prompt, question, answer, kind, tuple(spans), depth)


# ---- the tasks ----------------------------------------------------------------------------------

PASSKEY_HEAD = (
    "There is an important piece of information hidden inside a lot of irrelevant text. "
    "Find it and memorize it. I will quiz you about it.\n\n"
)
PASSKEY_QUESTION = "What is the pass key? Answer with the number only."


def make_passkey(length: int, seed: int) -> Example:
    """A 5-digit pass key in repeated filler, at a depth drawn from [0.05, 0.95]."""
    rng = rng_for("passkey", length, seed)
    key = distinct_numbers(rng, 1)[0]
    needle = f"The pass key is {key}. Remember it. "
    question = f"\n\n{PASSKEY_QUESTION}"
    n = len(fill([FILLER] * 2000, char_budget("passkey", length, PASSKEY_HEAD + needle + question)))
    at = round(rng.uniform(0.05, 0.95) * n)
    parts = [PASSKEY_HEAD, *[FILLER] * at, needle, *[FILLER] * (n - at), question]
    prompt, spans = assemble(parts, {"key": key})
    return _example("passkey", length, seed, prompt, PASSKEY_QUESTION, key, "number", [spans["key"]], at / n)


KV_KEYS = 8
KV_OBJECTS = (
    "apple river candle mirror garden pencil rocket violin basket ladder jacket pillow anchor button "
    "castle dragon kettle lantern saddle hammer wallet helmet compass trumpet"
).split()


def make_kv(length: int, seed: int) -> Example:
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
    return _example(
        "kv", length, seed, prompt, question, values[target], "number", [span], positions[target] / n
    )


MDQA_QUESTION = "Who founded the town of {town}?"


def town_document(i: int, town: str, founder: str, year: str, rng: random.Random) -> str:
    """One short document about an invented town: who founded it and when, then neutral sentences."""
    extra = " ".join(rng.sample(TOWN_LINES, 8))
    return (
        f"Document {i} ({town}): {town} was founded by {founder} in {year}. {town} is a small town on the "
        f"{rng.choice(GEOGRAPHY)}. {extra}\n\n"
    )


def make_mdqa(length: int, seed: int) -> Example:
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
    return _example(
        "mdqa", length, seed, prompt, question, founders[target], "text", [span], target / len(docs)
    )


def make_multikey(length: int, seed: int) -> Example:
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
    return _example("multikey", length, seed, prompt, question, " ".join(keys), "numbers", kspans, depth)


# Notes: varied sentences about a few places, drawn from word banks (setting -> subjects, actions, times).
NOTE_SETTINGS = {
    "harbour": (
        (
            "The harbour master",
            "An old sailor",
            "The ferry crew",
            "Two fishermen",
            "A young deckhand",
            "The net maker",
            "A gull",
        ),
        (
            "mended the torn nets",
            "painted the hull of a rowing boat",
            "counted the crates of herring",
            "tied the ropes to the pier",
            "swept the wooden quay",
            "watched the tide come in",
            "carried barrels to the warehouse",
            "checked the lanterns on the jetty",
        ),
    ),
    "workshop": (
        (
            "The carpenter",
            "An apprentice",
            "The blacksmith",
            "The clockmaker",
            "A visiting joiner",
            "The workshop foreman",
        ),
        (
            "sanded a new oak table",
            "sharpened the chisels",
            "fixed the legs of a wobbly chair",
            "oiled the old lathe",
            "sorted the nails by size",
            "stacked planks of pine by the wall",
            "repaired a cracked wheel",
            "polished a brass hinge",
        ),
    ),
    "garden": (
        (
            "The gardener",
            "A neighbour",
            "The head gardener",
            "Two children",
            "An elderly woman",
            "The beekeeper",
        ),
        (
            "planted rows of carrots",
            "pruned the apple trees",
            "watered the tomatoes",
            "raked the fallen leaves",
            "picked a basket of beans",
            "moved the bee hives to the meadow",
            "weeded the herb beds",
            "tied the roses to the fence",
        ),
    ),
}
NOTE_TIMES = (
    "in the morning",
    "at noon",
    "before the rain",
    "on Monday",
    "late in the evening",
    "after lunch",
    "at sunrise",
    "on a windy afternoon",
    "during the market day",
    "before supper",
)
NOTES_HEAD = "Here are some notes from a small town. Read them carefully.\n\n"
# The fact: a 5-digit code of a named place that the notes never mention otherwise.
NOTE_THINGS = ("boathouse", "bakery", "lighthouse", "chapel", "library", "post office", "bell tower", "mill")
NOTE_CODES = ("locker code", "door code", "safe number", "alarm code")


def note_paragraph(rng: random.Random) -> str:
    """One paragraph of notes: a heading and four to six sentences about one setting."""
    setting = rng.choice(list(NOTE_SETTINGS))
    subjects, actions = NOTE_SETTINGS[setting]
    sentences = [
        f"{rng.choice(subjects)} {action} {rng.choice(NOTE_TIMES)}."
        for action in rng.sample(actions, rng.randint(4, 6))
    ]
    return f"Notes on the {setting}: " + " ".join(sentences) + "\n\n"


def make_notes(length: int, seed: int) -> Example:
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
    return _example("notes", length, seed, prompt, question, value, "number", [(start, start + 5)], depth)


TASKS = {
    "passkey": make_passkey,
    "kv": make_kv,
    "mdqa": make_mdqa,
    "multikey": make_multikey,
    "notes": make_notes,
}


def make_example(task: str, length: int, seed: int) -> Example:
    """The example of `task` at ~`length` tokens for `seed` (its split follows from the seed)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if not isinstance(length, int) or not 64 <= length <= 131_072:
        raise ValueError(f"length must be an integer number of tokens in [64, 131072], got {length!r}")
    return TASKS[task](length, seed)


def make_examples(task: str, length: int, n: int, split: str = "dev", start: int = 0) -> list[Example]:
    """`n` examples of one task and length from a split."""
    return [make_example(task, length, s) for s in split_seeds(split, n, start)]


def parse_length(text: str) -> int:
    """ "2k" -> 2048, "1500" -> 1500."""
    text = text.strip().lower()
    try:
        return int(float(text[:-1]) * 1024) if text.endswith("k") else int(text)
    except ValueError:
        raise ValueError(f"length: expected a token count like 2048 or 2k, got {text!r}") from None
