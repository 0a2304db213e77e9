"""Score and select: which tokens a layer passes on (LazyLLM §3.2).

importance: s_i^l = (1/H) sum_h A^l[h, N, i], the attention probability from the last token N to
token i at layer l, averaged over heads, computed from the last query and the cached keys (no
eager attention). Selection keeps the top-k percentile of the tokens entering the layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .layers import repeat_kv


def importance(
    q: torch.Tensor,
    q_pos: torch.Tensor,
    k: torch.Tensor,
    k_pos: torch.Tensor,
    scaling: float,
    window: int | None = None,
) -> torch.Tensor:
    """Attention probabilities from the scoring queries to the keys, averaged over heads and queries.

    q: (1, H, w, hd) the last w queries (w = 1: the paper's last token);  q_pos: (w,)
    k: (1, Hkv, s, hd) keys of the tokens entering the layer;            k_pos: (s,)
    window: a sliding-window layer's (Gemma 3): keys at or beyond it get probability 0, as in the
    layer's own attention (the layer scan; pruning layers are global, config.scoring_layers).
    returns float32 (s,).
    """
    k = repeat_kv(k, q.shape[1] // k.shape[1])  # (1, H, s, hd)
    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scaling  # (1, H, w, s)
    if q.shape[2] > 1:  # a window of queries: each sees only keys at or before its position
        logits = logits.masked_fill(k_pos[None, None, None, :] > q_pos[None, None, :, None], float("-inf"))
    if window is not None:  # main diff with Llama (Gemma 3 local layers): q_pos - k_pos < window
        unseen = q_pos[None, None, :, None] - k_pos[None, None, None, :] >= window
        logits = logits.masked_fill(unseen, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # fp32: no underflow to all-zero rows
    return probs.mean(dim=(0, 1, 2))  # (s,)


def pool_scores(scores: torch.Tensor, pool: int) -> torch.Tensor:
    """Max over `pool` neighbouring positions (beyond the paper): a number or name stays whole.

    scores: (s,) ordered by position.
    """
    if pool <= 1:
        return scores
    return F.max_pool1d(scores[None, None], pool, stride=1, padding=pool // 2)[0, 0]


def num_kept(entering: int, keep_fraction: float, protected: int) -> int:
    """How many of `entering` tokens survive a layer that keeps `keep_fraction` of them."""
    k = math.ceil(keep_fraction * entering - 1e-9)
    return min(entering, max(k, protected, 1))


def top_k(priority: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k highest priorities; ties go to the earlier index (deterministic)."""
    order = torch.sort(priority, descending=True, stable=True).indices
    return order[:k]


def select_top(scores: torch.Tensor, protect: torch.Tensor, keep_fraction: float) -> torch.Tensor:
    """The paper's rule: keep the top-k percentile by score, protected tokens always kept.

    scores: (s,) by position; protect: bool (s,) (the last token, and variants' sinks/window).
    returns sorted indices into the s tokens.
    """
    k = num_kept(scores.shape[0], keep_fraction, int(protect.sum()))
    priority = scores.masked_fill(protect, float("inf"))
    return top_k(priority, k).sort().values


def select_random(
    scores: torch.Tensor, protect: torch.Tensor, keep_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """The random-drop baseline (paper Table 1): same count as select_top, tokens drawn at random."""
    k = num_kept(scores.shape[0], keep_fraction, int(protect.sum()))
    priority = torch.rand(scores.shape[0], generator=generator).to(scores.device)
    priority = priority.masked_fill(protect, float("inf"))
    return top_k(priority, k).sort().values


@dataclass
class Scorer:
    """Importance of the tokens entering a pruning layer (§3.2, Eq. 1), and those never pruned.

    The paper's method is window = 1, pool = 1, sinks = 0: the last token's query alone judges, and
    only the last token is protected. Variants beyond the paper (one scorer, three knobs): `window`
    averages over the queries of the last `window` context tokens (kept across steps, per layer),
    `pool` max-pools scores over neighbours, `sinks` always keeps the first tokens.
    """

    window: int = 1
    pool: int = 1
    sinks: int = 0
    _recent: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def queries(self, layer: int, q: torch.Tensor, pos: torch.Tensor, n: int):
        """The judging queries: (1, H, w, hd) and their positions (w,).

        q: (1, H, m, hd) the queries computed at this layer in this step, at positions pos (m,).
        """
        w = self.window
        if w == 1:
            return q[:, :, -1:], pos[-1:]
        recent = pos >= n - w
        q_new, p_new = q[:, :, recent], pos[recent]
        if layer in self._recent:  # queries of earlier steps that are still among the last w
            q_old, p_old = self._recent[layer]
            q_new, p_new = torch.cat([q_old, q_new], dim=2)[:, :, -w:], torch.cat([p_old, p_new])[-w:]
        self._recent[layer] = (q_new, p_new)
        return q_new, p_new

    def score(self, layer, q, pos, keys, k_pos, sel, n: int, scaling: float) -> torch.Tensor:
        """float32 (s,): importance of the selected tokens `sel`, in position order.

        keys: (1, Hkv, s, hd) in cache order, at positions k_pos (s,), the same set as sel.
        """
        q_s, q_pos = self.queries(layer, q, pos, n)
        scores = importance(q_s, q_pos, keys, k_pos, scaling)  # (s,) in key order
        if not torch.equal(k_pos, sel):
            scores = scores[torch.argsort(k_pos)]  # cache order -> position order
        return pool_scores(scores, self.pool)

    def state(self) -> dict:
        """What a later step changes: the judging queries kept per layer (window > 1)."""
        return dict(self._recent)  # its tensors are replaced at each step, never changed in place

    def restore(self, state: dict) -> None:
        self._recent = dict(state)

    def protected(self, sel: torch.Tensor, n: int) -> torch.Tensor:
        """bool (s,): never pruned: the last token (paper), and the variants' window and sinks."""
        keep = sel >= n - self.window
        if self.sinks:
            keep |= sel < self.sinks
        return keep
