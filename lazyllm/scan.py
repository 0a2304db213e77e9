"""The layer scan: where a span of the prompt ranks in the last token's attention, layer by layer.

One prefill with pruning off scores every layer with the paper's importance (§3.2, Eq. 1: the
attention of the last token, averaged over heads; `generate(..., scan=True)`). For a focus span (an
answer, a fact the output copies) the scan tells, per layer, the percentile rank of its best and its
worst token and the share of the last token's attention it receives, and the earliest layer from which
the whole span stays inside a keep fraction at every later layer: the tool that shows *where* pruning
can start without losing the span (pruning later costs less accuracy, §5.4, Fig. 6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

Span = tuple[int, int]  # [start, end) token positions


@dataclass
class LayerScan:
    """Per layer l (arrays of length L); percentiles in [0, 1], 0 = the most attended token."""

    span: Span
    keep_fraction: float
    best: np.ndarray  # percentile rank of the span's best-ranked token
    worst: np.ndarray  # percentile rank of its worst-ranked token
    mass: np.ndarray  # share of the last token's attention on the span
    safe_from: int | None  # earliest layer from which the whole span is inside keep_fraction at every layer

    def rows(self) -> list[dict]:
        return [
            dict(layer=i, best=float(b), worst=float(w), mass=float(m))
            for i, (b, w, m) in enumerate(zip(self.best, self.worst, self.mass, strict=True))
        ]


def percentile_ranks(scores: np.ndarray) -> np.ndarray:
    """(L, n) scores -> (L, n) rank / n in [0, 1): 0 for the highest score of each layer (ties: earlier first)."""
    order = np.argsort(-scores, axis=1, kind="stable")  # (L, n) positions, best first
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks / scores.shape[1]


def layer_scan(scores: np.ndarray, span: Span, keep_fraction: float = 0.5) -> LayerScan:
    """The scan of `span` from per-layer prefill importance `scores` (L, n) (GenerationResult.scan).

    A token is inside the keep fraction at layer l when its percentile rank is < keep_fraction
    (no pruning before l is assumed: the scan is of the unpruned model).
    """
    L, n = scores.shape
    a, b = int(span[0]), int(span[1])
    if not 0 <= a < b <= n:
        raise ValueError(f"span: [{a}, {b}) is outside the prompt's {n} tokens")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction!r}")
    pct = percentile_ranks(scores)[:, a:b]  # (L, s)
    best, worst = pct.min(axis=1), pct.max(axis=1)
    mass = scores[:, a:b].sum(axis=1) / np.maximum(scores.sum(axis=1), 1e-30)
    inside = worst < keep_fraction  # (L,)
    safe_from = None
    for layer in range(L - 1, -1, -1):  # the longest run of "inside" that reaches the last layer
        if not inside[layer]:
            break
        safe_from = layer
    return LayerScan((a, b), keep_fraction, best, worst, mass, safe_from)


def find_span(tokens: list[str], text: str, limit: int | None = None) -> Span | None:
    """Token positions [a, b) covering the first occurrence of `text` in tokens[:limit] (case-insensitive
    if no exact match), or None."""
    if not text:
        return None
    tokens = tokens[: len(tokens) if limit is None else limit]
    starts = np.cumsum([0] + [len(t) for t in tokens])  # character offset of each token
    joined = "".join(tokens)
    at = joined.find(text)
    if at < 0:
        at = joined.lower().find(text.lower())
    if at < 0:
        return None
    a = int(np.searchsorted(starts, at, side="right") - 1)
    b = int(np.searchsorted(starts, at + len(text), side="left"))
    return (a, max(b, a + 1))


def copied_span(prompt_ids, output_ids, min_len: int = 3) -> Span | None:
    """The prompt span the output copies: the longest common run of tokens (>= min_len), or None.

    O(len(prompt) * len(output)), vectorised over the prompt (ties: the earliest in the prompt).
    """
    p, o = np.asarray(prompt_ids), np.asarray(output_ids)
    best, end = 0, 0
    run = np.zeros(len(p) + 1, dtype=np.int64)  # run[i + 1]: common run ending at prompt i, output j
    for tok in o:
        run[1:] = np.where(p == tok, run[:-1] + 1, 0)
        i = int(run.argmax())
        if run[i] > best:
            best, end = int(run[i]), i
    return (end - best, end) if best >= min_len else None


def scan(lm, prompt, span=None, keep_fraction: float = 0.5, chat: bool = True, max_new_tokens: int = 16):
    """Run the layer scan on a prompt: the baseline generation with every layer scored at prefill.

    span: token positions (a, b), text to find in the prompt, or None for the span the baseline's
    output copies. Returns (LayerScan or None when no span, the baseline GenerationResult, and the
    seconds of a plain prefill of the same prompt measured just before, for the scan's cost).
    """
    from .generate import encode_prompt, generate

    ids = encode_prompt(lm, prompt, chat=chat)
    t0 = time.perf_counter()
    generate(lm, ids, max_new_tokens=1)
    plain_s = time.perf_counter() - t0
    base = generate(lm, ids, max_new_tokens=max_new_tokens, scan=True)
    if isinstance(span, str):
        texts = [lm.tokenizer.decode([i]) for i in ids] if lm.tokenizer is not None else [str(i) for i in ids]
        found = find_span(texts, span)
        if found is None:
            raise ValueError(f"span: {span[:100]!r} is not in the prompt")
        span = found
    elif span is None:
        span = copied_span(ids, base.token_ids)
    result = layer_scan(base.scan, span, keep_fraction) if span is not None else None
    return result, base, plain_s
