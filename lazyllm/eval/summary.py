"""Summaries of bench records: per candidate and task, the paper's accuracy / speedup trade-off.

Speedups are ratios of means over the *same* examples of the same run (the baseline's mean TTFT over
the examples a candidate ran / the candidate's mean TTFT), as the paper reports TTFT speedup (§5.1).
Examples lost / gained are counted per example against the baseline's run of the same example.
The Pareto front and the choice of a schedule (tune, ``Objective``) read these rows.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .plan import BASELINE
from .run import Record


@dataclass
class Row:
    """Per candidate and task (task "all": every task together; length 0: every length)."""

    strategy: str  # the candidate's label
    kind: str
    variant: str  # "paper" or the scoring variant's options
    task: str
    length: int
    n: int
    accuracy: float  # mean score x 100
    accuracy_delta: float  # accuracy - baseline accuracy (points)
    lost: int  # examples the baseline got right and this candidate did not
    gained: int  # examples this candidate got right and the baseline did not
    ttft_s: float  # mean
    total_s: float  # mean
    ttft_speedup: float  # baseline mean TTFT / this mean TTFT, same examples
    generation_speedup: float  # baseline mean total time / this mean total time, same examples
    compute_fraction: float  # mean (prompt token, layer) computations / baseline's
    tokens_used: float  # mean fraction of prompt tokens that reached the last layer
    top1_agreement: float  # mean teacher-forced top-1 agreement with the baseline
    mean_kl: float  # mean teacher-forced KL(p_baseline || p_candidate), nats
    prompt_tokens: float  # mean prompt length in tokens
    new_tokens: float  # mean generated tokens


def mean(xs) -> float:
    xs = list(xs)
    return float(statistics.fmean(xs)) if xs else float("nan")


def ratio_of_means(base: Sequence[Record], mine: Sequence[Record], key: str) -> float:
    """mean(base.key) / mean(mine.key) over the examples both ran: a speedup."""
    uids = {r.uid for r in mine}
    return mean(getattr(r, key) for r in base if r.uid in uids) / mean(getattr(r, key) for r in mine)


def right(score: float) -> bool:
    """An example counts as answered when its score is at least 0.5 (built-in tasks score 0 or 1)."""
    return score >= 0.5


def lost_gained(mine: Sequence[Record], base: Sequence[Record]) -> tuple[int, int]:
    """(examples lost, examples gained) of `mine` against the baseline's records of the same examples."""
    base_right = {r.uid: right(r.score) for r in base}
    pairs = [(base_right[r.uid], right(r.score)) for r in mine if r.uid in base_right]
    return sum(b and not m for b, m in pairs), sum(m and not b for b, m in pairs)


def summarize(records: Sequence[Record], baseline: str = BASELINE, by_length: bool = True) -> list[Row]:
    """Aggregate records per (candidate, task, length), plus task "all" per (candidate, length)."""
    labels = list(dict.fromkeys(r.strategy for r in records))
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        length = r.length if by_length else 0
        groups.setdefault((r.strategy, r.task, length), []).append(r)
        groups.setdefault((r.strategy, "all", length), []).append(r)
    tasks = list(dict.fromkeys(r.task for r in records)) + ["all"]
    lengths = sorted({key[2] for key in groups})
    rows = []
    for length, task, label in itertools.product(lengths, tasks, labels):
        mine, base = groups.get((label, task, length)), groups.get((baseline, task, length))
        if mine and base:
            rows.append(row(task, length, mine, base))
    return rows


def row(task: str, length: int, mine: list[Record], base: list[Record]) -> Row:
    """One Row from a candidate's records and the baseline's records of the same group."""
    uids = {r.uid for r in mine}
    acc = 100 * mean(r.score for r in mine)
    lost, gained = lost_gained(mine, base)
    return Row(
        strategy=mine[0].strategy,
        kind=mine[0].kind,
        variant=mine[0].variant,
        task=task,
        length=length,
        n=len(mine),
        accuracy=acc,
        accuracy_delta=acc - 100 * mean(r.score for r in base if r.uid in uids),
        lost=lost,
        gained=gained,
        ttft_s=mean(r.ttft_s for r in mine),
        total_s=mean(r.total_s for r in mine),
        ttft_speedup=ratio_of_means(base, mine, "ttft_s"),
        generation_speedup=ratio_of_means(base, mine, "total_s"),
        compute_fraction=mean(r.compute_fraction for r in mine),
        tokens_used=mean(r.tokens_used for r in mine),
        top1_agreement=mean(r.top1 for r in mine),
        mean_kl=mean(r.mean_kl for r in mine),
        prompt_tokens=mean(r.prompt_tokens for r in mine),
        new_tokens=mean(r.new_tokens for r in mine),
    )


def pareto_front(rows: Sequence[Row], x: str = "ttft_speedup") -> list[Row]:
    """Rows not dominated in (accuracy up, x up); for x = compute_fraction lower is better."""
    sign = -1.0 if x == "compute_fraction" else 1.0

    def dominated(r: Row) -> bool:
        rx = sign * getattr(r, x)
        return any(
            o is not r
            and o.accuracy >= r.accuracy
            and sign * getattr(o, x) >= rx
            and (o.accuracy > r.accuracy or sign * getattr(o, x) > rx)
            for o in rows
        )

    return sorted((r for r in rows if not dominated(r)), key=lambda r: sign * getattr(r, x))


@dataclass(frozen=True)
class Objective:
    """What `tune` maximises TTFT speedup under: accuracy first.

    The `default` pick: at most `max_lost` examples lost against the baseline (counted per example,
    not in accuracy points) and a mean teacher-forced KL(p_baseline || p_candidate) of at most `max_kl`
    nats (lazyllm.compare; far less noisy than exact match on small samples). The `fast` pick: accuracy
    within `max_drop` points of the baseline's.
    """

    max_lost: int = 1
    max_kl: float = 0.3
    max_drop: float = 5.0

    def accurate(self, r: Row) -> bool:
        """Does `r` meet the `default` pick's constraints?"""
        return r.lost <= self.max_lost and r.mean_kl <= self.max_kl

    def close(self, r: Row) -> bool:
        """Does `r` meet the `fast` pick's constraint?"""
        return r.accuracy_delta >= -self.max_drop - 1e-9

    def net_loss_allowed(self, n: int) -> int:
        """The most examples (lost - gained) either pick may lose on `n` examples."""
        return max(self.max_lost, math.floor(self.max_drop * n / 100 + 1e-9))

    def verdict(self, r: Row) -> str:
        """ "default, fast", "fast" or why neither: "lost 2, KL 0.41 > 0.3"."""
        ok = [name for name, test in (("default", self.accurate), ("fast", self.close)) if test(r)]
        if ok:
            return ", ".join(ok)
        why = [f"lost {r.lost}"] if r.lost > self.max_lost else []
        why += [f"KL {r.mean_kl:.2f} > {self.max_kl:g}"] if r.mean_kl > self.max_kl else []
        return ", ".join(why) or f"Δ {r.accuracy_delta:+.1f} points"


def fastest(rows: Sequence[Row], ok) -> Row | None:
    """The fastest lazy row (task "all") for which `ok(row)` holds (ties: the more accurate)."""
    found = [r for r in rows if r.kind == "lazy" and r.task == "all" and ok(r)]
    return max(found, key=lambda r: (r.ttft_speedup, r.accuracy), default=None)


def picks(rows: Sequence[Row], objective: Objective) -> dict[str, Row]:
    """The `default` pick (fastest accurate row) and the `fast` pick (fastest close row), where found."""
    found = {"default": fastest(rows, objective.accurate), "fast": fastest(rows, objective.close)}
    return {name: r for name, r in found.items() if r is not None}
