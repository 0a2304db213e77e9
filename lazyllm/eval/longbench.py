"""LongBench-format data from a local path: read, build prompts, score (the paper's benchmark, §5.1).

LongBench (THUDM/LongBench) ships one JSONL file per dataset; every line has the fields ``input``,
``context``, ``answers`` (list), ``all_classes`` (list or null), ``length``, ``dataset`` (and ``_id``).
Prompt templates and generation lengths follow LongBench's ``config/dataset2prompt.json`` and
``dataset2maxlen.json``; long prompts are truncated in the middle as LongBench's ``pred.py`` does,
and the few-shot and code datasets are fed without the chat template, as there. No hub access:
point ``read_jsonl`` / ``load_dir`` at files you have on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .metrics import DATASET_METRIC, score_example

FIELDS = ("input", "context", "answers", "all_classes", "length", "dataset")

# The paper's task groups (Table 1) -> LongBench datasets.
PAPER_GROUPS: dict[str, tuple[str, ...]] = {
    "multi-doc QA": ("hotpotqa", "2wikimqa", "musique"),
    "few-shot": ("trec", "triviaqa", "samsum"),
    "synthetic": ("passage_count", "passage_retrieval_en"),
    "code": ("lcc", "repobench-p"),
}

_QA = (
    "Answer the question based on the given passages. Only give me the answer and do not output any other "
    "words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given "
    "passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:"
)
PROMPTS: dict[str, str] = {
    "narrativeqa": (
        "You are given a story, which can be either a novel or a movie script, and a question. Answer the "
        "question as concisely as you can, using a single phrase if possible. Do not provide any "
        "explanation.\n\nStory: {context}\n\nNow, answer the question based on the story as concisely as you "
        "can, using a single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:"
    ),
    "multifieldqa_en": (
        "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question "
        "based on the above text, only give me the answer and do not output any other words.\n\n"
        "Question: {input}\nAnswer:"
    ),
    "hotpotqa": _QA,
    "2wikimqa": _QA,
    "musique": _QA,
    "gov_report": (
        "You are given a report by a government agency. Write a one-page summary of the report.\n\n"
        "Report:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:"
    ),
    "multi_news": (
        "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\n"
        "Now, write a one-page summary of all the news.\n\nSummary:"
    ),
    "trec": (
        "Please determine the type of the question below. Here are some examples of questions.\n\n"
        "{context}\n{input}"
    ),
    "triviaqa": (
        "Answer the question based on the given passage. Only give me the answer and do not output any "
        "other words. The following are some examples.\n\n{context}\n\n{input}"
    ),
    "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
    "passage_count": (
        "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please "
        "carefully read these paragraphs and determine how many unique paragraphs there are after removing "
        "duplicates. In other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\n"
        "Please enter the final count of unique paragraphs after removing duplicates. The output format "
        "should only contain the number, such as 1, 2, 3, and so on.\n\nThe final answer is: "
    ),
    "passage_retrieval_en": (
        "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph "
        "the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the "
        'number of the paragraph that the abstract is from. The answer format must be like "Paragraph 1", '
        '"Paragraph 2", etc.\n\nThe answer is: '
    ),
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
}

MAX_NEW_TOKENS: dict[str, int] = {
    "narrativeqa": 128,
    "multifieldqa_en": 64,
    "hotpotqa": 32,
    "2wikimqa": 32,
    "musique": 32,
    "gov_report": 512,
    "multi_news": 512,
    "trec": 64,
    "triviaqa": 32,
    "samsum": 128,
    "passage_count": 32,
    "passage_retrieval_en": 32,
    "lcc": 64,
    "repobench-p": 64,
}

# LongBench feeds these without the chat template ("chat models are better off without", pred.py).
NO_CHAT = ("trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p")


@dataclass(frozen=True)
class LongBenchItem:
    """One LongBench example, with the interface the bench runs (prompt, chat, score)."""

    dataset: str
    index: int
    input: str
    context: str
    answers: tuple[str, ...]
    all_classes: tuple[str, ...] | None
    length: int  # LongBench's word count of the context

    @property
    def task(self) -> str:
        return self.dataset

    @property
    def uid(self) -> str:
        return f"{self.dataset}-{self.index}"

    @property
    def prompt(self) -> str:
        """The prompt from LongBench's template (before any truncation)."""
        return PROMPTS[base_name(self.dataset)].format(input=self.input, context=self.context)

    @property
    def chat(self) -> bool:
        return base_name(self.dataset) not in NO_CHAT

    @property
    def max_new_tokens(self) -> int:
        return MAX_NEW_TOKENS[base_name(self.dataset)]

    def score(self, prediction: str) -> float:
        """The official metric of the dataset, best over the gold answers, in [0, 1]."""
        return score_example(self.dataset, prediction, self.answers, self.all_classes)


def base_name(dataset: str) -> str:
    """ "hotpotqa_e" (LongBench-E) -> "hotpotqa"."""
    return dataset.removesuffix("_e")


def parse_line(line: str, index: int, default_dataset: str) -> LongBenchItem:
    """One JSONL line -> LongBenchItem; ValueError naming the missing field or bad dataset."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"line {index + 1}: not valid JSON ({e.msg})") from None
    missing = [f for f in ("input", "context", "answers") if f not in row]
    if missing:
        raise ValueError(f"line {index + 1}: missing field(s) {', '.join(missing)}")
    dataset = row.get("dataset") or default_dataset
    if base_name(dataset) not in PROMPTS:
        raise ValueError(f"line {index + 1}: dataset {dataset!r} has no prompt; known: {', '.join(PROMPTS)}")
    answers = row["answers"] if isinstance(row["answers"], list) else [row["answers"]]
    classes = row.get("all_classes")
    return LongBenchItem(
        dataset=dataset,
        index=index,
        input=row["input"] or "",
        context=row["context"] or "",
        answers=tuple(str(a) for a in answers),
        all_classes=tuple(classes) if classes else None,
        length=int(row.get("length") or len(row["context"].split())),
    )


def read_jsonl(path: str | Path, limit: int | None = None) -> list[LongBenchItem]:
    """Read a LongBench JSONL file (the file name, e.g. ``hotpotqa.jsonl``, names the dataset)."""
    path = Path(path)
    default = path.name.split(".")[0]
    items = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and len(items) >= limit:
                break
            if line.strip():
                items.append(parse_line(line, i, default))
    return items


def load_dir(folder: str | Path, datasets=None, limit: int | None = None) -> list[LongBenchItem]:
    """Read ``<dataset>.jsonl`` for each dataset (default: every one the paper uses that is present)."""
    folder = Path(folder)
    if folder.is_file():
        return read_jsonl(folder, limit)
    names = datasets or [d for group in PAPER_GROUPS.values() for d in group]
    items = []
    for name in names:
        path = folder / f"{name}.jsonl"
        if path.is_file():
            items += read_jsonl(path, limit)
        elif datasets:
            raise ValueError(f"longbench: no file {path} for dataset {name!r}")
    if not items:
        raise ValueError(f"longbench: no <dataset>.jsonl files of the paper's datasets in {folder}")
    return items


def truncate_middle(tokenizer, prompt: str, max_tokens: int) -> str:
    """Keep the first and last max_tokens/2 tokens (LongBench's pred.py), decoded back to text."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return prompt
    half = max_tokens // 2
    return tokenizer.decode(ids[:half], skip_special_tokens=True) + tokenizer.decode(
        ids[-half:], skip_special_tokens=True
    )


def group_scores(per_dataset: dict[str, float]) -> dict[str, float]:
    """Average dataset scores (0-100) into the paper's task groups, over the datasets present."""
    out = {}
    for group, names in PAPER_GROUPS.items():
        present = [per_dataset[n] for n in names if n in per_dataset]
        if present:
            out[group] = round(sum(present) / len(present), 2)
    return out


@dataclass(frozen=True)
class TruncatedItem:
    """A LongBench item whose prompt was truncated in the middle to fit the model (as pred.py does)."""

    item: LongBenchItem
    prompt: str

    def __getattr__(self, name):
        return getattr(self.item, name)

    def score(self, prediction: str) -> float:
        return self.item.score(prediction)


def fit(items, tokenizer, max_tokens: int) -> list[TruncatedItem]:
    """Every item with its prompt truncated in the middle to at most `max_tokens` tokens."""
    return [TruncatedItem(it, truncate_middle(tokenizer, it.prompt, max_tokens)) for it in items]


assert set(PROMPTS) <= set(DATASET_METRIC), "every dataset with a prompt has a metric"
