"""The focus span: the visitor's, or chosen for them, and the layer scan that follows it.

Shared by the views and the walkthrough (which tells its lesson on the span the views show).
"""

from __future__ import annotations

import re

import numpy as np

from app import stats as S
from app.state import RunView
from lazyllm.scan import copied_span, layer_scan

SPAN_WHY_POSITIONS = "the positions you typed"


def focus_span(view: RunView, focus: str) -> tuple[S.Span, str]:
    """(span, why): positions "120-135" or text typed by the visitor; else the example's answer span,
    the expected answer in the prompt, the prompt span the baseline's output copies, or the prompt
    tokens the last token attended to most at the divergence step (prefill when the texts agree)."""
    t = view.trace
    focus = (focus or "").strip()
    if focus:
        return _typed_span(view, focus)
    if view.example is not None and (span := S.find_span(t, view.example.answer_span)):
        return span, "the example's answer"  # the span's words are shown beside it
    if view.expected and (span := S.find_span(t, view.expected)):
        return span, "where the expected answer appears in the prompt"
    if view.comparison is not None:
        span = copied_span(t.tokens[: t.prompt_len], view.comparison.baseline_tokens)
        if span is not None:
            return span, "the prompt text the baseline's output copies (longest common run of tokens)"
    return _most_attended(view)


def _typed_span(view: RunView, focus: str) -> tuple[S.Span, str]:
    """Positions like "120-135" (or one position), else the first occurrence of the text."""
    m = re.fullmatch(r"([0-9]{1,7})\s*(?:[-:–]\s*([0-9]{1,7}))?", focus)
    if m:
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        return S.clamp_span(view.trace, (min(a, b), max(a, b) + 1), 0), SPAN_WHY_POSITIONS
    span = S.find_span(view.trace, focus)
    return span, ("the text you typed" if span else f"“{focus[:60]}” is not in the prompt")


def _most_attended(view: RunView) -> tuple[S.Span, str]:
    """The prompt tokens around the one the last token attended to most (attention sink at 0 excluded)."""
    t = view.trace
    step = S.clamp_step(t, view.divergence or 0)
    scores = t.steps[step].scores
    if not scores:
        return None, "no span: this run scored no token (no pruning layers) and has no known answer"
    layer = max(scores)
    sc = np.nan_to_num(scores[layer][: t.prompt_len], nan=-1.0)
    sc[0] = -1.0
    p = int(np.argmax(sc))
    when = f"the divergence step {step}" if view.divergence is not None else "prefill"
    span = (max(p - 1, 1), min(p + 2, t.prompt_len))
    why = (
        f"the prompt tokens the last token attended to most at {when} (layer {layer}; the sink at 0 left out)"
    )
    return span, why


def scan_keep(view: RunView) -> float:
    """The keep fraction the scan checks against: the run's first pruning stage's (0.5 without one)."""
    return float(view.trace.schedule[0][1]) if view.trace.schedule else 0.5


def view_scan(view: RunView, span):
    """The layer scan of `span` (lazyllm.scan.LayerScan), or None without a scan or a prompt span."""
    if view.scan is None or span is None or span[1] > view.trace.prompt_len:
        return None
    return layer_scan(view.scan, span, scan_keep(view))
