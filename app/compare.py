"""Fidelity and speed of a pruned run against the baseline run of the same prompt.

Fidelity to the unpruned model: greedy-token agreement, the first step where the two runs diverge,
and per-step KL divergence and top-1 agreement of the next-token distributions. After the first
divergence the two runs continue from different contexts, so later steps compare two continuations.
"""

from __future__ import annotations

import html

import numpy as np


def token_agreement(base_ids, lazy_ids) -> float:
    """Fraction of positions where the two greedy sequences hold the same token (over the longer)."""
    n = max(len(base_ids), len(lazy_ids))
    if n == 0:
        return 1.0
    same = sum(int(a == b) for a, b in zip(base_ids, lazy_ids, strict=False))
    return same / n


def first_divergence(base_ids, lazy_ids) -> int | None:
    """The first step whose token differs (or where one run stopped), None if identical."""
    for i, (a, b) in enumerate(zip(base_ids, lazy_ids, strict=False)):
        if a != b:
            return i
    return None if len(base_ids) == len(lazy_ids) else min(len(base_ids), len(lazy_ids))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def step_kl_top1(base_logits, lazy_logits) -> tuple[list[float], list[bool]]:
    """Per step: KL(p_baseline || p_pruned) in nats and whether the argmax tokens agree.

    base_logits, lazy_logits: [steps, vocab] (torch tensors or arrays); compared over common steps.
    """
    a = np.asarray(_to_numpy(base_logits), dtype=np.float64)
    b = np.asarray(_to_numpy(lazy_logits), dtype=np.float64)
    steps = min(len(a), len(b))
    if steps == 0:
        return [], []
    la, lb = _log_softmax(a[:steps]), _log_softmax(b[:steps])  # (steps, vocab)
    kl = (np.exp(la) * (la - lb)).sum(axis=-1)
    top1 = a[:steps].argmax(-1) == b[:steps].argmax(-1)
    return [float(max(v, 0.0)) for v in kl], [bool(v) for v in top1]


def _to_numpy(x):
    if x is None:
        return np.zeros((0, 1))
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def summarize(base, lazy, base_tokens: list[str], lazy_tokens: list[str], strategy: str, config: str) -> dict:
    """The JSON summary of a baseline/pruned pair (the `/run` API's answer).

    base, lazy: GenerationResults (text, token_ids, timings, stats, logits).
    """
    kl, top1 = step_kl_top1(base.logits, lazy.logits)
    base_ids, lazy_ids = list(base.token_ids), list(lazy.token_ids)
    return {
        "baseline_text": base.text,
        "lazy_text": lazy.text,
        "baseline_ttft_s": float(base.timings.ttft_s),
        "lazy_ttft_s": float(lazy.timings.ttft_s),
        "baseline_total_s": float(base.timings.total_s),
        "lazy_total_s": float(lazy.timings.total_s),
        "ttft_speedup": _ratio(base.timings.ttft_s, lazy.timings.ttft_s),
        "generation_speedup": _ratio(base.timings.total_s, lazy.timings.total_s),
        "compute_fraction": float(lazy.stats.prompt_compute_fraction),
        "prompt_tokens_used_fraction": float(lazy.stats.prompt_tokens_used_fraction),
        "token_agreement": token_agreement(base_ids, lazy_ids),
        "first_divergence": first_divergence(base_ids, lazy_ids),
        "kl_per_step": kl,
        "top1_per_step": top1,
        "mean_kl": float(np.mean(kl)) if kl else 0.0,
        "top1_agreement": float(np.mean(top1)) if top1 else 1.0,
        "baseline_tokens": base_tokens,
        "lazy_tokens": lazy_tokens,
        "baseline_new_tokens": len(base_ids),
        "lazy_new_tokens": len(lazy_ids),
        "strategy": strategy,
        "config": config,
    }


def text_html(tokens: list[str], divergence: int | None, label: str) -> str:
    """Generated text as HTML, with the part from the first divergent token marked."""
    cut = len(tokens) if divergence is None else divergence
    same = html.escape("".join(tokens[:cut]))
    diff = html.escape("".join(tokens[cut:]))
    mark = (
        f'<mark class="lz-div" title="differs from the baseline from step {cut}">{diff}</mark>'
        if diff
        else ""
    )
    return f'<div class="lz-out"><div class="lz-out-label">{label}</div><div class="lz-out-text">{same}{mark}</div></div>'


def _speedup(x: float) -> str:
    return f"<b>{x:.2f}×</b> " + ("faster" if x >= 1 else "(slower than the baseline)")


def metrics_html(s: dict) -> str:
    """The side-by-side numbers as a compact HTML table."""
    div = s.get("first_divergence")
    rows = [
        (
            "TTFT",
            f"{s['baseline_ttft_s']:.3f} s",
            f"{s['lazy_ttft_s']:.3f} s",
            _speedup(s["ttft_speedup"]),
        ),
        (
            "total",
            f"{s['baseline_total_s']:.3f} s",
            f"{s['lazy_total_s']:.3f} s",
            _speedup(s["generation_speedup"]),
        ),
        ("new tokens", s["baseline_new_tokens"], s["lazy_new_tokens"], ""),
        ("prompt compute", "100%", f"{s['compute_fraction']:.0%}", "of (token, layer) computations"),
        ("prompt tokens used", "100%", f"{s['prompt_tokens_used_fraction']:.0%}", "reached the last layer"),
        (
            "fidelity",
            "",
            f"{s['token_agreement']:.0%} tokens agree",
            "identical text" if div is None else f"first divergence at step {div}",
        ),
        ("next-token", "", f"top-1 {s['top1_agreement']:.0%}", f"mean KL {s['mean_kl']:.3g} nats"),
    ]
    body = "".join(f"<tr><th>{a}</th><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in rows)
    head = f"<tr><th></th><th>baseline</th><th>{html.escape(s.get('strategy', 'lazy'))}</th><th></th></tr>"
    return f'<table class="lz-metrics" id="lz-metrics-table">{head}{body}</table>'
