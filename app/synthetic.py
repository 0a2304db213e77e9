"""A synthetic but consistent LazyLLM Trace, for tests and for building the UI without a model.

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


# --- a stand-in for the runtime, so the UI can be driven without a model (tests only) ----------


class FakeTokenizer:
    def __call__(self, text):
        return {"input_ids": list(range(len(text.split())))}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(f" w{i}" for i in ids)


class FakeLM:
    """Looks like `lazyllm.load_model()`'s result to the app: tokenizer, num_layers, name."""

    def __init__(self, num_layers: int = 8):
        self.tokenizer = FakeTokenizer()
        self.num_layers = num_layers
        self.name = "synthetic"
        self.max_context = 4096


class FakeRuntime:
    """`generate_stream` over synthetic traces with the `lazyllm` update/result shapes."""

    from lazyllm.config import LazyConfig  # the real, validated config

    def __init__(self, prompt_len: int = 40, step_s: float = 0.0):
        self.prompt_len = prompt_len
        self.step_s = step_s
        self.calls = []

    def generate_stream(self, lm, prompt, config, max_new_tokens=8, seed=0, **kw):
        import time
        from types import SimpleNamespace as NS

        self.calls.append((prompt, config, max_new_tokens))
        cfg = config.resolved(lm.num_layers)
        trace = synthetic_trace(
            self.prompt_len, max_new_tokens, lm.num_layers, cfg.schedule, seed, cfg.strategy
        )
        rng = np.random.default_rng(len(cfg.schedule))
        logits = rng.normal(size=(max_new_tokens, 50))
        ids = [int(v) for v in logits.argmax(-1)]
        for t in range(max_new_tokens):
            time.sleep(self.step_s)
            part = Trace(trace.num_layers, trace.prompt_len, trace.tokens, trace.schedule, trace.steps[: t + 1],
                         trace.strategy, trace.variant, trace.model, trace.config_name)  # fmt: skip
            done = t == max_new_tokens - 1
            text = "".join(f" w{i}" for i in ids[: t + 1])
            result = None
            if done:
                result = NS(
                    text=text, token_ids=ids, logits=logits, trace=part,
                    timings=NS(ttft_s=0.1 if cfg.schedule else 0.2, total_s=0.5 if cfg.schedule else 0.7, step_s=[]),
                    stats=NS(prompt_compute_fraction=trace.prompt_compute_fraction(), prompt_tokens_used_fraction=0.9),
                )  # fmt: skip
            yield NS(
                step=t, token_id=ids[t], text=text, trace=part, logits=logits[t], done=done, result=result
            )
