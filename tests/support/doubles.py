"""Test doubles: a synthetic but consistent LazyLLM Trace, for the figure and view tests.

It simulates the method's bookkeeping (LazyLLM §3.2-3.3) on random importance scores: progressive
top-k pruning at the schedule's layers, per-layer KV caches, the Aux Cache, and revivals, so the
invariants the runtime guarantees (every token computed at most once per layer, KV before Aux, the
last token kept) hold here too.
"""

from __future__ import annotations

import math

import numpy as np

from lazyllm.trace import StepTrace, Trace


def _step_scores(rng: np.random.Generator, n: int, base: np.ndarray) -> np.ndarray:
    """Attention-like importance over n tokens: a sink at 0, persistent favourites, step noise."""
    raw = base[:n] * np.exp(rng.normal(0.0, 0.8, n))
    raw[0] += raw.sum()  # the attention sink
    return raw / raw.sum()


def _select(scores: np.ndarray, entering: np.ndarray, keep: float, last: int) -> np.ndarray:
    """Top-`keep` fraction of `entering` by score; the last token always stays."""
    k = max(1, math.ceil(keep * len(entering)))
    order = entering[np.argsort(-scores[entering], kind="stable")]
    kept = set(order[:k].tolist()) | {last}
    return np.array(sorted(kept), dtype=np.int64)


def synthetic_trace(
    prompt_len: int = 48,
    new_tokens: int = 6,
    num_layers: int = 8,
    schedule=((2, 0.6), (5, 0.6)),
    seed: int = 0,
    strategy: str = "lazy",
) -> Trace:
    """A Trace with `new_tokens` steps (prefill + decodes) of progressive pruning and revivals."""
    rng = np.random.default_rng(seed)
    total = prompt_len + new_tokens
    base = rng.gamma(0.6, 1.0, total) + 1e-3
    kv = [set() for _ in range(num_layers)]
    aux = [set() for _ in range(num_layers)]
    steps = []
    for t in range(new_tokens):
        n = prompt_len + t
        scores_now = _step_scores(rng, n, base)
        depth = np.full(n, num_layers, dtype=np.int64)
        entering = np.arange(n)
        scores = {}
        for layer, keep in schedule:
            s = np.full(n, np.nan)
            s[entering] = scores_now[entering]
            scores[layer] = s
            kept = _select(scores_now, entering, keep, n - 1)
            depth[np.setdiff1d(entering, kept)] = layer + 1
            entering = kept
        computed, revived = {}, {}
        for layer in range(num_layers):
            sel = set(np.flatnonzero(depth > layer).tolist())
            new = sorted(sel - kv[layer])
            computed[layer] = np.array(new, dtype=np.int64)
            resumed = [p for p in new if p < n - 1 and layer > 0 and p not in computed[layer - 1]]
            revived[layer] = np.array(resumed, dtype=np.int64)  # its input came from the Aux Cache
            if layer > 0:
                aux[layer - 1] -= set(new)  # revived: its hidden state left the Aux Cache
            kv[layer] |= set(new)
        for layer in range(num_layers - 1):
            pruned_here = np.flatnonzero(depth == layer + 1).tolist()
            aux[layer] |= {p for p in pruned_here if p not in kv[layer + 1]}
        steps.append(
            StepTrace(
                step=t,
                token_id=int(rng.integers(0, 1000)),
                depth=depth,
                scores=scores,
                computed=computed,
                revived=revived,
                kv_len=np.array([len(s) for s in kv], dtype=np.int64),
                aux_len=np.array([len(s) for s in aux], dtype=np.int64),
                seconds=0.02 if t else 0.2,
            )
        )
    words = ["The", " pass", " key", " is", " 7", "1", "4", "3", "2", ".", " Grass", " is", " green", "\n"]
    tokens = [words[i % len(words)] for i in range(total)]
    return Trace(
        num_layers=num_layers,
        prompt_len=prompt_len,
        tokens=tokens,
        schedule=[[int(a), float(b)] for a, b in schedule],
        steps=steps,
        strategy=strategy,
        model="synthetic",
        config_name="synthetic",
    )


def synthetic_comparison(divergence: int | None = 3):
    """A Comparison of 4 steps: TTFT 0.4 s vs 0.2 s, total 1.0 s vs 0.8 s, texts diverging at `divergence`."""
    from lazyllm import Comparison

    lazy = ["a", " b", " c", " e"] if divergence is not None else ["a", " b", " c", " d"]
    return Comparison(
        baseline_text="a b c d", lazy_text="".join(lazy), baseline_tokens=["a", " b", " c", " d"],
        lazy_tokens=lazy, baseline_ttft_s=0.4, lazy_ttft_s=0.2, baseline_total_s=1.0, lazy_total_s=0.8,
        baseline_step_s=[0.4, 0.2, 0.2, 0.2], lazy_step_s=[0.2, 0.2, 0.2, 0.2], compute_fraction=0.7,
        prompt_tokens_used_fraction=0.9, token_agreement=0.75 if divergence is not None else 1.0,
        first_divergence=divergence, kl_per_step=[0.0, 0.01, 0.02, 0.5],
        top1_per_step=[True, True, True, divergence is None], config={"label": "default", "describe": "default"},
        prompt_tokens=48,
    )  # fmt: skip


def wide_trace(
    num_layers: int, prompt_len: int, steps: int = 1, pruning_layers: int = 0, seed: int = 0
) -> Trace:
    """A large, valid trace built directly with numpy (fast): every token at every layer, scores at
    `pruning_layers` layers of every step. For budget, export and memory tests."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        n = prompt_len + t
        scores = {layer: rng.random(n) for layer in range(pruning_layers)}
        computed = {layer: np.arange(n) if t == 0 else np.array([n - 1]) for layer in range(num_layers)}
        out.append(StepTrace(t, int(rng.integers(0, 1000)), np.full(n, num_layers, dtype=np.int64), scores,
                             computed, {}, np.full(num_layers, n, dtype=np.int64),
                             np.zeros(num_layers, dtype=np.int64), 0.01))  # fmt: skip
    schedule = [[layer, 0.99] for layer in range(pruning_layers)]
    return Trace(num_layers, prompt_len, ["t"] * (prompt_len + steps), schedule, out, model="wide")
