"""Scoring: LongBench's official metrics and the exact match of the built-in tasks.

The LongBench functions follow ``metrics.py`` and ``eval.py`` of THUDM/LongBench (the benchmark the
paper evaluates on, §5.1), re-written without their extra packages:

- ``qa_f1_score``: token F1 after ``normalize_answer`` (SQuAD-style), as in LongBench.
- ``classification_score``: LongBench's rule, including its quirks (see the function).
- ``code_sim_score``: ``fuzzywuzzy.fuzz.ratio`` of the first code line, computed here with
  ``difflib.SequenceMatcher`` (what fuzzywuzzy itself uses when python-Levenshtein is absent).
- ``rouge_score``: ROUGE-L F computed here by LCS (the ``rouge`` package's summary-level variant on
  one sentence); close to, not always equal to, the package's value. Optional in the paper's tables.
- ``count_score``, ``retrieval_score``: the synthetic tasks, as in LongBench.

Scores are in [0, 1] per example; ``score_dataset`` averages and scales to 0-100 like LongBench.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (LongBench)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction: Sequence[str], ground_truth: Sequence[str]) -> float:
    """Bag-of-tokens F1 between two token lists."""
    common = Counter(prediction) & Counter(ground_truth)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(prediction)
    recall = same / len(ground_truth)
    return 2 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Token F1 of the normalized answers (LongBench QA and few-shot triviaqa)."""
    return f1_score(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def classification_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's classification rule (trec, lsht): 1/m if the gold class is among the m matches.

    Every class name found as a substring of the prediction matches; a match that is a strict
    substring of the gold class is dropped. Reproduced as the official code behaves: it removes items
    from the list it iterates over (so the item after a removed one is not examined), and its
    similarity fallback for zero matches never runs (it tests ``list != 0``), so no match scores 0.
    """
    matches = [c for c in kwargs["all_classes"] if c in prediction]
    i = 0
    while i < len(matches):  # the official `for ... in list: list.remove(...)`, step by step
        term = matches[i]
        if term in ground_truth and term != ground_truth:
            matches.remove(term)
        i += 1
    return 1.0 / len(matches) if ground_truth in matches else 0.0


def fuzz_ratio(a: str, b: str) -> int:
    """``fuzzywuzzy.fuzz.ratio`` without the package: round(100 * difflib ratio), 0 for an empty side."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))


def code_sim_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Edit similarity of the first line of code that is not a comment or a fence (lcc, repobench-p)."""
    line = ""
    for candidate in prediction.lstrip("\n").split("\n"):
        if "`" not in candidate and "#" not in candidate and "//" not in candidate:
            line = candidate
            break
    return fuzz_ratio(line, ground_truth) / 100


def count_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Fraction of the numbers in the prediction that equal the gold count (passage_count)."""
    numbers = re.findall(r"\d+", prediction)
    if not numbers:
        return 0.0
    return sum(n == str(ground_truth) for n in numbers) / len(numbers)


def retrieval_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Like ``count_score`` for the paragraph id in "Paragraph 12" (passage_retrieval_en)."""
    found = re.findall(r"Paragraph (\d+)", ground_truth)
    if not found:
        return 0.0
    return count_score(prediction, found[0])


def _lcs_len(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """ROUGE-L F (LCS of lower-cased word tokens, beta = P/R as in the ``rouge`` package)."""
    pred = re.findall(r"\w+", prediction.lower())
    gold = re.findall(r"\w+", ground_truth.lower())
    if not pred or not gold:
        return 0.0
    lcs = _lcs_len(pred, gold)
    if lcs == 0:
        return 0.0
    r, p = lcs / len(gold), lcs / len(pred)
    beta = p / (r + 1e-12)
    return (1 + beta**2) * r * p / (r + beta**2 * p)


Metric = Callable[..., float]

# LongBench's dataset -> metric map (English datasets; eval.py).
DATASET_METRIC: dict[str, Metric] = {
    "narrativeqa": qa_f1_score,
    "qasper": qa_f1_score,
    "multifieldqa_en": qa_f1_score,
    "hotpotqa": qa_f1_score,
    "2wikimqa": qa_f1_score,
    "musique": qa_f1_score,
    "gov_report": rouge_score,
    "qmsum": rouge_score,
    "multi_news": rouge_score,
    "trec": classification_score,
    "triviaqa": qa_f1_score,
    "samsum": rouge_score,
    "passage_retrieval_en": retrieval_score,
    "passage_count": count_score,
    "lcc": code_sim_score,
    "repobench-p": code_sim_score,
}

# Few-shot datasets: LongBench scores only the first line of the prediction.
FIRST_LINE_DATASETS = ("trec", "triviaqa", "samsum", "lsht")


def score_example(dataset: str, prediction: str, answers: Sequence[str], all_classes=None) -> float:
    """Best score over the gold answers of one example, in [0, 1] (LongBench's ``scorer``)."""
    dataset = dataset.removesuffix("_e")
    if dataset not in DATASET_METRIC:
        raise ValueError(f"dataset: no LongBench metric for {dataset!r}; known: {', '.join(DATASET_METRIC)}")
    if dataset in FIRST_LINE_DATASETS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    metric = DATASET_METRIC[dataset]
    return max((metric(prediction, gold, all_classes=all_classes) for gold in answers), default=0.0)


def score_dataset(dataset: str, predictions: Sequence[str], answers, all_classes=None) -> float:
    """Mean score x 100, rounded to 2 decimals, as LongBench reports it."""
    if not predictions:
        return 0.0
    total = sum(score_example(dataset, p, a, all_classes) for p, a in zip(predictions, answers, strict=True))
    return round(100 * total / len(predictions), 2)


# ---- the built-in tasks (lazyllm.eval.tasks) ----------------------------------------------------------


def first_line(text: str) -> str:
    """The first non-empty line of a generation."""
    for line in text.strip().splitlines():
        if line.strip():
            return line
    return ""


def numbers_in(text: str) -> list[str]:
    """Integers in order of appearance (digit groups; "4,821" counts as 4821)."""
    return [n.replace(",", "") for n in re.findall(r"\d[\d,]*\d|\d", text)]


def exact_match(prediction: str, gold: str, kind: str = "text") -> float:
    """Normalized exact match of a built-in task's answer, 1.0 or 0.0.

    kind "number":  the first integer of the prediction equals the gold number.
    kind "numbers": the first k integers of the prediction are the k gold ones (space-separated), in any
                    order (a model lists them in the order it read them).
    kind "text":    the normalized prediction's first line equals the normalized gold answer, or
                    contains it as whole words (an instruct model writes "The founder was Ada Brenner.").
    """
    if kind == "number":
        found = numbers_in(prediction)
        return float(bool(found) and found[0] == gold)
    if kind == "numbers":
        want = gold.split()
        return float(sorted(numbers_in(prediction)[: len(want)]) == sorted(want))
    if kind != "text":
        raise ValueError(f"kind must be 'number', 'numbers' or 'text', got {kind!r}")
    pred, want = normalize_answer(first_line(prediction)), normalize_answer(gold)
    return float(bool(want) and f" {want} " in f" {pred} ")
