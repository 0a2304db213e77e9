"""The tune search: every candidate on a few dev examples first, the survivors on the whole dev set.

``screen`` lists the examples per task after which candidates may stop: ``(2,)`` is two phases (every
candidate on 2 examples per task, the survivors on the rest), ``(1, 3)`` three rungs (successive
halving), ``()`` runs every candidate on every example. At each screen point:

- a candidate stops once it has lost more examples (lost - gained) than either pick of the
  ``Objective`` may lose on the whole dev set: examples lost only add up, so it cannot be picked any
  more (barring later gains);
- at the last screen point, a candidate also stops when `spares` faster candidates do at least as well
  on every count a pick reads (examples lost, lost - gained, KL within the bound): the pick would be
  one of them, and the spares stand in should the fastest lose examples later.

Runs are not repeated: a rung adds the examples ``[previous, next)`` of each task, so a candidate that
finishes ran every example, interleaved with the baseline's run of it (speedups stay ratios over the
same examples).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .plan import Candidate
from .run import Record, items_for, run_bench
from .summary import Objective, Row, summarize


def rungs(n: int, screen: Sequence[int]) -> list[tuple[int, int]]:
    """Per-task example ranges [start, end) of each rung: (10, (1, 3)) -> [(0, 1), (1, 3), (3, 10)]."""
    ends = sorted({s for s in screen if 0 < s < n} | {n})
    return list(zip([0, *ends[:-1]], ends, strict=True))


def beats(a: Row, b: Row, objective: Objective) -> bool:
    """Is `a` faster than `b` and at least as good on every count a pick reads?"""
    kl_ok = a.mean_kl <= objective.max_kl or b.mean_kl > objective.max_kl
    return (
        a.ttft_speedup > b.ttft_speedup
        and a.lost <= b.lost
        and a.lost - a.gained <= b.lost - b.gained
        and kl_ok
    )


def survivors(
    records: Sequence[Record],
    candidates: Sequence[Candidate],
    objective: Objective,
    n_total: int,
    spares: int | None = None,
) -> list[Candidate]:
    """The baseline, and the candidates that may still be picked on `n_total` examples (module doc);
    spares: also stop those that `spares` faster candidates beat (None: no such stop)."""
    allowed = objective.net_loss_allowed(n_total)
    rows = {r.strategy: r for r in summarize(records, by_length=False) if r.task == "all"}
    alive = [rows[c.label] for c in candidates[1:] if rows[c.label].lost - rows[c.label].gained <= allowed]
    if spares is not None:
        alive = [r for r in alive if sum(beats(o, r, objective) for o in alive) < spares]
    keep = {r.strategy for r in alive}
    return [candidates[0]] + [c for c in candidates[1:] if c.label in keep]


def search(
    lm,
    candidates: Sequence[Candidate],
    tasks: Sequence[str],
    lengths: Sequence[int],
    n: int,
    screen: Sequence[int] = (),
    objective: Objective | None = None,
    spares: int | None = 2,
    max_new_tokens: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[Record]:
    """Run the candidates (baseline first) on `n` dev examples per task and length, rung by rung."""
    objective = objective or Objective()
    records: list[Record] = []
    active = list(candidates)
    n_total = n * len(tasks) * len(lengths)
    steps = rungs(n, screen)
    for i, (start, end) in enumerate(steps):
        if i:
            last = i == len(steps) - 1
            active = survivors(records, active, objective, n_total, spares if last else None)
        if progress:
            print(
                f"tune: {len(active) - 1} candidates on dev examples {start}-{end - 1} of each task",
                file=sys.stderr,
            )
        items = items_for(tasks, lengths, end - start, "dev", start)
        records += run_bench(lm, active, items, max_new_tokens=max_new_tokens, seed=seed, progress=progress,
                             warmup=i == 0)  # fmt: skip
    return records
