"""Running a bench: every candidate on every example, interleaved, scored, compared with the baseline.

For each example the baseline runs first (free-running greedy, logits kept), then the other
candidates back to back in an order rotated from example to example, so machine noise hits them alike.
Each candidate goes through ``lazyllm.compare.compare_stream`` (the one comparison of the project) with
the example's baseline given: its free run, then its teacher-forced twin (the candidate fed the
baseline's tokens: mean KL(p_baseline || p_candidate) and top-1 agreement per step), with free-running
token agreement and first divergence. Teacher-forced runs are not timed; every time is the method's
(instrumentation, here a forkable run's checkpoints, is timed apart and left out).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lazyllm.compare import Comparison, compare_results, compare_runs
from lazyllm.generate import GenerationResult, generate

from .plan import Candidate

DEFAULT_TASKS = ("passkey", "kv", "mdqa", "multikey")


@dataclass
class Record:
    """One (example, candidate) run."""

    strategy: str  # the candidate's label
    kind: str  # "baseline", "lazy", "static" or "random"
    variant: str  # the scoring: "paper" or the variant's options (LazyConfig.variant)
    task: str
    length: int
    uid: str
    score: float  # the task's metric, in [0, 1]
    ttft_s: float
    total_s: float
    new_tokens: int
    prompt_tokens: int
    compute_fraction: float  # (prompt token, layer) computations / the baseline's, whole generation
    tokens_used: float  # fraction of prompt tokens that reached the last layer
    token_agreement: float  # free-running, vs the baseline's tokens
    first_divergence: int | None  # free-running; None: the baseline's text
    mean_kl: float  # teacher-forced, mean over steps of KL(p_baseline || p_candidate), nats
    top1: float  # teacher-forced, fraction of steps whose top-1 token is the baseline's
    prediction: str


def items_for(tasks: Sequence[str], lengths: Sequence[int], n: int, split: str = "dev", start: int = 0):
    """Built-in task examples, grouped so that one length's examples run together."""
    from .tasks import make_examples

    return [e for length in lengths for task in tasks for e in make_examples(task, length, n, split, start)]


def _budget(item, max_new_tokens: int | None) -> int:
    return max_new_tokens or getattr(item, "max_new_tokens", 32)


def run_one(lm, item, candidate: Candidate, max_new_tokens: int | None, seed: int) -> GenerationResult:
    """Free-running generation for one item with one candidate, logits kept (the baseline's run)."""
    return generate(
        lm,
        item.prompt,
        config=candidate.config,
        max_new_tokens=_budget(item, max_new_tokens),
        return_logits=True,
        chat=item.chat,
        seed=seed,
    )


def compare_one(lm, item, candidate: Candidate, base: GenerationResult, max_new_tokens, seed: int) -> Record:
    """A candidate against the item's baseline run, through lazyllm.compare's one sequence."""
    _, free, c = compare_runs(
        lm, base.prompt_ids, candidate.config, _budget(item, max_new_tokens), seed=seed, base=base
    )
    return record(item, candidate, free, c)


def record(item, candidate: Candidate, free: GenerationResult, c: Comparison) -> Record:
    """Score a run and its Comparison with the baseline's run of the same item."""
    return Record(
        strategy=candidate.label,
        kind=candidate.kind,
        variant=candidate.config.variant,
        task=item.task,
        length=int(item.length),
        uid=item.uid,
        score=float(item.score(free.text)),
        ttft_s=free.timings.ttft_s,
        total_s=free.timings.total_s,
        new_tokens=len(free.token_ids),
        prompt_tokens=free.stats.prompt_len,
        compute_fraction=free.stats.prompt_compute_fraction,
        tokens_used=free.stats.prompt_tokens_used_fraction,
        token_agreement=c.token_agreement,
        first_divergence=c.first_divergence,
        mean_kl=c.mean_kl,
        top1=c.top1_agreement,
        prediction=free.text,
    )


def compare_one_baseline(lm, item, candidate: Candidate, base: GenerationResult) -> Record:
    """The baseline's own record: compared with itself (its forced run is itself: no run)."""
    return record(item, candidate, base, compare_results(lm, base, base, base))


def run_item(lm, item, candidates: Sequence[Candidate], max_new_tokens, seed: int, first: int = 0, bar=None):
    """The baseline (candidates[0]) on one item, then every other candidate, starting with
    candidates[1 + first % (n - 1)]; records in candidate order."""
    base_candidate, others = candidates[0], list(candidates[1:])
    base = run_one(lm, item, base_candidate, max_new_tokens, seed)
    if bar is not None:
        bar.step(f"{item.uid} {base_candidate.label}")
    records = {base_candidate.label: compare_one_baseline(lm, item, base_candidate, base)}
    shift = first % len(others) if others else 0
    for candidate in [*others[shift:], *others[:shift]]:
        records[candidate.label] = compare_one(lm, item, candidate, base, max_new_tokens, seed)
        if bar is not None:
            bar.step(f"{item.uid} {candidate.label}")
    return [records[c.label] for c in candidates]


class Progress:
    """A plain-text progress bar on stderr: [#####.....] 12/40 eta 1m03s label."""

    def __init__(self, total: int, enabled: bool = True, width: int = 24):
        self.total, self.done, self.enabled, self.width = total, 0, enabled, width
        self.start = time.perf_counter()

    def step(self, label: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if self.done >= self.total else ""
        msg = f"\r[{bar}] {self.done}/{self.total} eta {int(eta) // 60}m{int(eta) % 60:02d}s {label[:48]:<48}"
        print(msg, end=end, file=sys.stderr, flush=True)


def run_bench(
    lm,
    candidates: Sequence[Candidate],
    items: Sequence | None = None,
    tasks: Sequence[str] = DEFAULT_TASKS,
    lengths: Sequence[int] = (2048,),
    n_examples: int = 3,
    max_new_tokens: int | None = None,
    split: str = "dev",
    seed: int = 0,
    progress: bool = True,
    warmup: bool = True,
) -> list[Record]:
    """Run every candidate on every item, interleaved per item (order rotated per item).

    items: any objects with task, length, uid, prompt, chat, max_new_tokens and score(text) (built-in
    examples or LongBench items); default: `n_examples` built-in examples per task and length.
    """
    if not candidates or candidates[0].kind != "baseline":
        raise ValueError(
            "candidates: the first must be the baseline (speedups and fidelity are relative to it)"
        )
    if len({c.label for c in candidates}) != len(candidates):
        raise ValueError(f"candidates: labels must be distinct, got {[c.label for c in candidates]}")
    items = list(items) if items is not None else items_for(tasks, lengths, n_examples, split)
    if not items:
        raise ValueError("no examples to run: give at least one task, length and example")
    if warmup:  # first calls pay one-off costs (on a GPU: every candidate's kernels); not recorded
        for candidate in candidates if lm.device.type == "cuda" else candidates[:1]:
            run_one(lm, items[0], candidate, 2, seed)
    bar = Progress(len(items) * len(candidates), enabled=progress)
    records = []
    for i, item in enumerate(items):
        records += run_item(lm, item, candidates, max_new_tokens, seed, i % len(candidates), bar)
    return records
