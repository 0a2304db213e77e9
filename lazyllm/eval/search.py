"""The tune search: every candidate on a few dev examples first, the survivors on the whole dev set.

A candidate's examples lost against the baseline can only grow as examples are added. So once a
candidate has lost more examples (lost - gained) on the first examples than either pick of the
``Objective`` allows on the whole dev set, it cannot be picked (barring later gains), and it stops
there. ``screen`` lists the examples per task after which this check runs: ``(2,)`` is two phases
(every candidate on 2 examples per task, the survivors on the rest), ``(1, 3)`` three rungs
(successive halving), ``()`` runs every candidate on every example. Runs are not repeated: a rung
adds examples ``[previous, next)`` per task, so every candidate that finishes ran every example, and
every example's candidates ran interleaved with its baseline (speedups stay ratios over the same examples).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .plan import Candidate
from .run import Record, items_for, run_bench
from .summary import Objective, summarize


def rungs(n: int, screen: Sequence[int]) -> list[tuple[int, int]]:
    """Per-task example ranges [start, end) of each rung: (10, (1, 3)) -> [(0, 1), (1, 3), (3, 10)]."""
    ends = sorted({s for s in screen if 0 < s < n} | {n})
    return list(zip([0, *ends[:-1]], ends, strict=True))


def survivors(
    records: Sequence[Record], candidates: Sequence[Candidate], objective: Objective, n_total: int
) -> list[Candidate]:
    """The baseline, and the candidates whose net loss so far is within what a pick may lose on `n_total`."""
    allowed = objective.net_loss_allowed(n_total)
    rows = {r.strategy: r for r in summarize(records, by_length=False) if r.task == "all"}
    return [candidates[0]] + [
        c for c in candidates[1:] if rows[c.label].lost - rows[c.label].gained <= allowed
    ]


def search(
    lm,
    candidates: Sequence[Candidate],
    tasks: Sequence[str],
    lengths: Sequence[int],
    n: int,
    screen: Sequence[int] = (),
    objective: Objective | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[Record]:
    """Run the candidates (baseline first) on `n` dev examples per task and length, rung by rung."""
    objective = objective or Objective()
    records: list[Record] = []
    active = list(candidates)
    n_total = n * len(tasks) * len(lengths)
    for i, (start, end) in enumerate(rungs(n, screen)):
        if i:
            active = survivors(records, active, objective, n_total)
        if progress:
            print(
                f"tune: {len(active) - 1} candidates on dev examples {start}-{end - 1} per task",
                file=sys.stderr,
            )
        items = items_for(tasks, lengths, end - start, "dev", start)
        records += run_bench(lm, active, items, max_new_tokens=max_new_tokens, seed=seed, progress=progress,
                             warmup=i == 0)  # fmt: skip
    return records
