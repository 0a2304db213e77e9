"""Which tokens a pruning layer keeps: one small class per strategy (kvpress style).

At a pruning layer the runner hands a strategy the positions `sel` entering the layer (sorted), their
importance `scores` (same order, from `pruning.Scorer`), the tokens it must keep (`protect`, bool) and
the schedule's keep fraction; the strategy returns the positions that go on to the next layer, sorted.
A strategy object lives for one generation, so it may keep state across steps: Static's ranking is
fixed at prefill; Random's generator moves at every step, so it saves and restores it (`state`).

Adding a strategy: a class here with `select`, an entry in STRATEGIES, and its row in the tests'
table (tests/runtime/test_invariants.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .pruning import select_random, select_top


class Strategy:
    """The selection interface. `prefill` is True at step 0 (the prompt), False at decode steps."""

    revives = True  # may a token pruned at one step be selected again at a later one?

    def select(
        self, layer: int, scores: torch.Tensor, sel: torch.Tensor, keep_fraction: float, protect: torch.Tensor,
        prefill: bool,
    ) -> torch.Tensor:  # fmt: skip
        raise NotImplementedError

    def state(self):
        """What a decode step may change (LazyRunner.rewind restores it): nothing, unless overridden."""
        return None

    def restore(self, state) -> None:
        pass


@dataclass
class TopK(Strategy):
    """LazyLLM (§3.2): keep the top-k percentile of the entering tokens by importance, at every step."""

    def select(self, layer, scores, sel, keep_fraction, protect, prefill):
        return sel[select_top(scores, protect, keep_fraction)]


@dataclass
class Static(Strategy):
    """Static pruning (paper Table 1): one ranking at prefill, from the first pruning layer's
    importance; each pruning layer keeps its top-k of that ranking, and the same prompt tokens stay
    pruned at every later step (never revived). Generated tokens are never pruned."""

    revives = False
    rank: torch.Tensor | None = None  # (prompt_len,) importance at the first pruning layer; -inf if absent
    kept: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> positions kept at prefill
    prompt_len: int = 0

    def select(self, layer, scores, sel, keep_fraction, protect, prefill):
        if not prefill:
            return sel[torch.isin(sel, self.kept[layer]) | (sel >= self.prompt_len)]
        if self.rank is None:  # the first pruning layer of prefill: its last token ends the prompt
            self.prompt_len = int(sel[-1]) + 1
            self.rank = torch.full((self.prompt_len,), float("-inf"), device=sel.device)
            self.rank[sel] = scores
        kept = sel[select_top(self.rank[sel], protect, keep_fraction)]
        self.kept[layer] = kept
        return kept


@dataclass
class Random(Strategy):
    """Random token drop (paper Table 1): as many tokens as TopK keeps, drawn at random (seeded)."""

    seed: int = 0
    generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self.generator = torch.Generator().manual_seed(int(self.seed))

    def select(self, layer, scores, sel, keep_fraction, protect, prefill):
        return sel[select_random(scores, protect, keep_fraction, self.generator)]

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def restore(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


STRATEGIES: dict[str, type[Strategy]] = {"lazy": TopK, "static": Static, "random": Random}


def make_strategy(name: str, seed: int = 0) -> Strategy:
    """A fresh strategy object for one generation."""
    cls = STRATEGIES[name]
    return cls(seed=seed) if cls is Random else cls()
